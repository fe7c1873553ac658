"""``app.queues``: the app's durable queues: declaring them, enqueueing, and their load.

Declarations live in code (each executor enforces the limits its version declares); the
dispatch that dequeues them starts with ``launch()``. ``app.queue(...)`` is the short form
of ``app.queues.declare(...)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from tether.runtime import queue_limits
from tether.runtime.dispatch import Dispatch
from tether.runtime.engine import Engine
from tether.runtime.errors import ConfigurationError
from tether.runtime.handles import WorkflowHandle
from tether.runtime.queues import Enqueuer, OnDuplicate, Queue, QueueSpec
from tether.runtime.registry import Registry
from tether.runtime.store import Store
from tether.runtime.store.queue_stats import queue_stats
from tether.runtime.waiting import StoreWaiter
from tether.versioning.migration import actor


@dataclasses.dataclass(frozen=True, slots=True)
class QueueStats:
    """One queue and version: open work now, and finished work over the last window."""

    queue: str
    version: str
    waiting: int  # ENQUEUED
    running: int  # PENDING, dequeued
    suspended: int  # SUSPENDED in a durable wait: holds no slot until woken
    oldest_wait_s: float | None  # the longest an ENQUEUED workflow has waited so far
    finished: dict[str, int]  # by terminal status, within the window
    throughput_per_s: float
    start_latency_ms: dict[str, float]  # p50, p95, p99 of enqueue -> start
    run_time_ms: dict[str, float]  # p50, p95, p99 of start -> completion

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class QueueLimits:
    """A queue's limits: declared in code (the last version to launch with it), changed at
    run time (overrides), what executors enforce (effective), and the log of changes."""

    queue: str
    declared: dict[str, Any]
    overrides: dict[str, Any]
    effective: dict[str, Any]
    declared_by: str | None
    changes: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Queues:
    """Declare queues, enqueue into them, and read their load across all executors."""

    def __init__(
        self,
        dispatch: Dispatch,
        *,
        store: Callable[[], Store],
        registry: Registry,
        engine: Callable[[], Engine | None],
    ) -> None:
        self._dispatch = dispatch
        self._store = store
        self._registry = registry
        self._engine = engine

    def declare(
        self,
        name: str,
        *,
        concurrency: int | None = None,
        worker_concurrency: int | None = None,
        rate_limit: tuple[int, float] | None = None,
        partition_concurrency: int | None = None,
        on_duplicate: OnDuplicate = "reject",
    ) -> Queue:
        """Declare a durable queue: global and per-executor concurrency, ``rate_limit=(n,
        seconds)``, per-partition concurrency. Launched executors dequeue from it."""
        spec = QueueSpec(
            name, concurrency, worker_concurrency, rate_limit, partition_concurrency, on_duplicate
        )
        return Queue(self._dispatch.add_queue(spec), self._enqueuer)

    def limits(self, name: str) -> QueueLimits:
        """A queue's declared, overridden and effective limits, and their changes."""
        store = self._store()
        row = store.queue_config.all().get(name)
        if row is None:
            raise ConfigurationError(
                f"no queue {name!r} in app {store.app_name!r}: a queue is known once an "
                "executor that declares it (app.queue(...)) has launched"
            )
        spec = queue_limits.apply(QueueSpec(name), {**row.declared, **row.overrides})
        return QueueLimits(
            name,
            row.declared,
            row.overrides,
            queue_limits.declared(spec),
            row.declared_by,
            [dataclasses.asdict(c) for c in store.queue_config.changes(name)],
        )

    def set_limits(
        self,
        name: str,
        *,
        reset: Sequence[str] = (),
        changed_by: str | None = None,
        **limits: Any,
    ) -> QueueLimits:
        """Change a queue's limits now, without a redeploy: ``concurrency``,
        ``worker_concurrency``, ``rate_limit=(n, seconds)``, ``partition_concurrency`` (None
        removes the limit); ``reset`` names limits that go back to their declared values.
        Stored and logged; every executor applies it within a second or so."""
        bad = sorted(set(reset) - set(queue_limits.FIELDS))
        if bad:
            raise ConfigurationError(
                f"cannot reset {bad}: the limits are {', '.join(queue_limits.FIELDS)}"
            )
        overrides = queue_limits.check_overrides(name, limits)
        store = self._store()
        store.queue_config.change(name, overrides, reset, changed_by or actor())
        if self._dispatch.limits is not None:
            self._dispatch.limits.invalidate()
            self._dispatch.wake(name)
        return self.limits(name)

    def stats(self, window: float = 60.0) -> list[QueueStats]:
        """Per queue and version: waiting, running, suspended, oldest wait, and over the last
        ``window`` seconds finished counts, throughput and start-latency percentiles."""
        store = self._store()
        return [QueueStats(**row) for row in queue_stats(store.db, store.app_name, window)]

    def _enqueuer(self) -> Enqueuer:
        if self._dispatch.enqueuer is None:
            registry = self._registry

            def resolve(fn: Any) -> str:
                return fn if isinstance(fn, str) else registry.workflow_def(fn).name

            def handle(wid: str) -> WorkflowHandle:
                engine = self._engine()
                return WorkflowHandle(
                    engine.waiter if engine else StoreWaiter(self._store(), 0.1), wid
                )

            def timeout_of(name: str) -> int | None:
                wdef = registry.workflows.get(name)
                return wdef.timeout_ms if wdef is not None else None

            self._dispatch.enqueuer = Enqueuer(
                self._store(),
                resolve=resolve,
                handle=handle,
                wake=self._dispatch.wake,
                timeout_of=timeout_of,
                observer=lambda: engine.observer if (engine := self._engine()) else None,
            )
        return self._dispatch.enqueuer
