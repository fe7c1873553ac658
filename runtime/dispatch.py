"""Where queued and scheduled work enters an executor: the app's queues and schedules, and
the threads that dequeue (with Postgres wake-ups) and fire ticks once the app is launched."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from . import queue_limits
from .dequeue import QueueRunner
from .errors import ConfigurationError
from .leases import is_alive
from .queue_limits import LimitCache
from .queues import Enqueuer, QueueSpec
from .remote_wakes import RemoteWakes
from .schedules import Scheduler, Schedules, ScheduleSpec
from .store.messages import WAKES
from .store.queues import CHANNEL

if TYPE_CHECKING:
    from .engine import Engine
    from .store import Store
    from .wakeups import Listener, SQLiteWatcher

log = logging.getLogger("tether.queues")


class Dispatch:
    def __init__(self) -> None:
        self.queues: dict[str, QueueSpec] = {}
        self.scheduled: list[ScheduleSpec] = []
        self.enqueuer: Enqueuer | None = None  # the app's, made on first use
        self.runner: QueueRunner | None = None
        self.limits: LimitCache | None = None
        self.scheduler: Scheduler | None = None
        self.listener: Listener | SQLiteWatcher | None = None
        self._schedules: Schedules | None = None
        self._engine: Engine | None = None
        self._live: tuple[float, frozenset[str]] = (0.0, frozenset())
        self._live_lock = threading.Lock()

    # -- declarations -------------------------------------------------------------------------

    def add_queue(self, spec: QueueSpec) -> QueueSpec:
        existing = self.queues.get(spec.name)
        if existing is not None and existing != spec:
            raise ConfigurationError(
                f"queue {spec.name!r} is already declared with different limits "
                f"({existing}); declare each queue once"
            )
        self.queues[spec.name] = spec
        return spec

    def add_schedule(self, spec: ScheduleSpec) -> None:
        if any(s.name == spec.name for s in self.scheduled):
            raise ConfigurationError(
                f"two schedules are named {spec.name!r}: give one of them name=..."
            )
        self.scheduled.append(spec)

    def schedules(self, store: Store) -> Schedules:
        if self._schedules is None:
            self._schedules = Schedules(store, lambda: self._engine)
            self._schedules.on_enqueue = self.wake
            self._schedules.known_queues = lambda: set(self.queues) | set(store.queue_config.all())
        return self._schedules

    # -- running ------------------------------------------------------------------------------

    def start(self, engine: Engine) -> None:
        """Start dequeuing and scheduling for a launched engine."""
        self._engine = engine
        store = engine.store
        store.queue_config.declare(
            [(name, queue_limits.declared(spec)) for name, spec in self.queues.items()],
            engine.version,
        )
        schedules = self.schedules(store)
        for spec in self.scheduled:
            schedules.check_queue(spec.name, spec.queue)
        current = store.versions.routing().current
        schedules.sync_code(self.scheduled, prune=current == engine.version, version=engine.version)
        self.limits = LimitCache(store.queue_config.overrides)
        self.runner = QueueRunner(
            engine, self.queues, live_versions=self.live_versions, limits=self.limits
        )
        self.runner.start()
        if store.db.is_sqlite:  # Postgres: the waking transaction's NOTIFY says it
            # A queued workflow woken from suspension goes back to its queue (store.waits).
            engine.recorder.wake_hooks.append(lambda: self.wake(None))
        remote = RemoteWakes(engine)
        if not store.db.is_sqlite:
            from .wakeups import Listener, SQLiteWatcher

            def connected() -> None:
                self.wake(None)
                remote.on_reconnect()

            self.listener = Listener(store.db.url, CHANNEL, self._on_notify, on_connect=connected)
            self.listener.on_woken = self._on_woken
            self.listener.wakes_channel = WAKES
            self.listener.on_wake = remote.on_note
            self.listener.start()
            engine.recorder.remote_live = self.listener.connected.is_set
        else:
            from .wakeups import SQLiteWatcher, sqlite_path

            path = sqlite_path(store.db.url)
            if path is not None:  # messages, events and woken workflows from elsewhere

                def changed() -> None:
                    if self.queues:
                        self.wake(None)
                    remote.on_change()

                self.listener = SQLiteWatcher(path, changed, on_tick=remote.on_tick)
                self.listener.start()
                engine.recorder.remote_live = self.listener.connected.is_set
        self.scheduler = Scheduler(schedules)
        self.scheduler.start()

    def stop(self) -> None:
        for part in (self.scheduler, self.runner, self.listener):
            if part is not None:
                part.stop()

    def wake(self, queue: str | None) -> None:
        if self.runner is not None:
            self.runner.wake(queue)

    def _on_notify(self, app: str, queue: str) -> None:
        if self._engine is not None and app == self._engine.store.app_name:
            self.wake(queue)

    def _on_woken(self, app: str, workflow_id: str) -> None:
        """A suspended workflow was woken (released, not queued): claim it if we can."""
        if self._engine is not None and app == self._engine.store.app_name:
            for hook in self._engine.recorder.woken_hooks:
                hook(workflow_id)

    def live_versions(self) -> frozenset[str]:
        """Versions some live executor can run (cached for a heartbeat interval)."""
        engine = self._engine
        assert engine is not None
        ttl = engine.settings.heartbeat_interval
        with self._live_lock:
            at, versions = self._live
            if time.monotonic() - at < ttl:
                return versions
            lease_ms = int(engine.settings.lease_timeout * 1000)
            now = int(time.time() * 1000)
            found: set[str] = set(engine.runnable())
            for x in engine.store.executors.list(lease_ms, include_stopped=False):
                if is_alive(x.heartbeat_at, x.state, now, lease_ms):
                    found.update(x.runnable_versions)
            versions = frozenset(found)
            self._live = (time.monotonic(), versions)
            return versions
