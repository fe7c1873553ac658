"""The ``Tether`` application object: registration, launch, and the management API."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tether.runtime import primitives
from tether.runtime.client import Watcher
from tether.runtime.context import maybe_current
from tether.runtime.dispatch import Dispatch
from tether.runtime.engine import Engine, EngineSettings
from tether.runtime.errors import ConfigurationError, WorkflowNotFoundError
from tether.runtime.executor import Executor
from tether.runtime.handles import WorkflowHandle
from tether.runtime.identity import resolve_executor_id
from tether.runtime.leases import orphaned_versions
from tether.runtime.queues import Enqueuer, OnDuplicate, Queue, QueueSpec
from tether.runtime.records import ExecutorRecord, OperationRecord, Status, WorkflowRecord
from tether.runtime.registry import Registry
from tether.runtime.routing import Routing
from tether.runtime.schedules import Missed, Schedules, ScheduleSpec
from tether.runtime.store import Store, redact
from tether.runtime.store.queue_stats import queue_stats
from tether.runtime.traffic import KEEP, set_routing
from tether.versioning import fork as forking
from tether.versioning import migration, patch_report, patch_scan
from tether.versioning import registry as version_registry
from tether.versioning.compat import RunnableSet
from tether.versioning.identity import check_version, resolve_version
from tether.versioning.migration import MigrationReport
from tether.versioning.patch_report import PatchReport
from tether.versioning.registry import VersionInfo

from .config import Settings
from .rollouts import Rollouts

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("tether")


class Tether:
    """One per process: the registry of workflows and steps, the engine and the executor.

    Register workflows and steps with the decorators, then ``launch()``; a workflow may
    be started with ``start_workflow`` or simply called.
    """

    def __init__(
        self,
        *,
        app_name: str | None = None,
        database_url: str | None = None,
        version: str | None = None,
        executor_id: str | None = None,
        compatible_with: Sequence[str] = (),
        lease_timeout: float | None = None,
        heartbeat_interval: float | None = None,
        recovery_interval: float = 1.0,
        poll_interval: float = 0.5,
        max_workflows: int = 128,
        shutdown_grace: float = 8.0,
        migrate: bool = True,
        install_signal_handlers: bool = True,
    ) -> None:
        if version is not None:
            check_version(version)
        if isinstance(compatible_with, str):
            raise ConfigurationError(
                f"compatible_with must be a list of versions, e.g. [{compatible_with!r}]"
            )
        for v in compatible_with:
            if v != "*":
                check_version(v)
        self.settings = Settings.resolve(
            app_name=app_name,
            database_url=database_url,
            lease_timeout=lease_timeout,
            version=version,
            executor_id=executor_id,
            compatible_with=tuple(compatible_with),
            heartbeat_interval=heartbeat_interval,
            recovery_interval=recovery_interval,
            poll_interval=poll_interval,
            max_workflows=max_workflows,
            shutdown_grace=shutdown_grace,
            migrate=migrate,
            install_signal_handlers=install_signal_handlers,
        )
        self.app_name = self.settings.app_name
        self.registry = Registry()
        self._engine: Engine | None = None
        self._executor: Executor | None = None
        self._store: Store | None = None
        self.version_source = ""
        self._previous_sigterm: Any = None
        self._dispatch = Dispatch()  # queues and schedules
        self._runnable: RunnableSet | None = None
        self.rollouts = Rollouts(self)  # rollouts and autoscaling (tether.rollouts)

    # -- registration -------------------------------------------------------------------------

    def workflow(
        self, *, name: str | None = None, max_recovery_attempts: int = 50
    ) -> Callable[[F], F]:
        """Register a durable workflow (``def`` or ``async def``)."""

        def decorate(fn: F) -> F:
            return self.registry.add_workflow(  # type: ignore[return-value]
                fn, name=name, max_recovery_attempts=max_recovery_attempts
            )

        return decorate

    def step(
        self,
        *,
        name: str | None = None,
        retries: int = 0,
        backoff: float = 2.0,
        interval: float = 1.0,
        max_interval: float = 60.0,
        retry_on: tuple[type[BaseException], ...] = (Exception,),
    ) -> Callable[[F], F]:
        """Register a checkpointed step; failed attempts retry with exponential backoff."""

        def decorate(fn: F) -> F:
            return self.registry.add_step(  # type: ignore[return-value]
                fn,
                name=name,
                retries=retries,
                backoff=backoff,
                interval=interval,
                max_interval=max_interval,
                retry_on=retry_on,
            )

        return decorate

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.settings.database_url, self.app_name)
        return self._store

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise ConfigurationError("the app is not launched: call app.launch() first")
        return self._engine

    @property
    def version(self) -> str:
        return self.engine.version

    @property
    def executor_id(self) -> str:
        return self.engine.executor_id

    def resolve_version(self) -> tuple[str, str]:
        sources = [w.source for w in self.registry.workflows.values()]
        return resolve_version(self.settings.version, self.app_name, sources)

    def runnable_versions(self) -> frozenset[str]:
        """This executor's own version and those declared compatible ("*": every version)."""
        if self._runnable is None:
            self._runnable = RunnableSet(
                self.engine.version,
                self.settings.compatible_with,
                known=self.store.versions.known,
                refresh=self.settings.effective_heartbeat,
            )
        return self._runnable()

    def launch(self) -> Tether:
        """Migrate (unless disabled), register this executor, recover, start the loop."""
        if self._engine is not None:
            return self
        s = self.settings
        version, self.version_source = self.resolve_version()
        store = self.store
        if s.migrate:
            store.migrate()
        store.check_schema()
        self._engine = Engine(
            store=store,
            registry=self.registry,
            version=version,
            executor_id=resolve_executor_id(s.executor_id),
            runnable=self.runnable_versions,
            settings=EngineSettings(
                lease_timeout=s.lease_timeout,
                heartbeat_interval=s.effective_heartbeat,
                recovery_interval=s.recovery_interval,
                poll_interval=s.poll_interval,
                max_workflows=s.max_workflows,
                shutdown_grace=s.shutdown_grace,
            ),
        )
        self.registry.engine = self._engine
        store.versions.seen(
            version,
            patches=patch_scan.names(self.registry.workflows.values()),
            platform_revision=os.environ.get("K_REVISION"),
        )
        store.versions.ensure_current(version)
        self._executor = Executor(self._engine)
        self._executor.start()
        self._dispatch.start(self._engine)
        if s.install_signal_handlers and threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
        log.info(
            "tether app %s launched: version %s (%s), executor %s, database %s",
            self.app_name,
            version,
            self.version_source,
            self._engine.executor_id,
            redact(store.db.url),
        )
        return self

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        previous = self._previous_sigterm

        if not callable(previous):
            # Only the main thread may set handlers; a second SIGTERM now ends the process.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

        def drain_then_exit() -> None:
            self.shutdown()
            if not callable(previous):
                signal.raise_signal(signal.SIGTERM)

        threading.Thread(target=drain_then_exit, name="tether-sigterm", daemon=False).start()
        if callable(previous):
            previous(signum, frame)

    def shutdown(self, grace: float | None = None) -> None:
        """Drain: stop claiming, let steps in flight finish within ``grace``, release leases."""
        self._dispatch.stop()
        if self._executor is not None and not self._executor.stopped:
            self._executor.drain(grace)
        if self._engine is not None:
            self._engine.close()

    # -- queues, schedules and routing of new work -------------------------------------------

    def queue(
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

    def _enqueuer(self) -> Enqueuer:
        if self._dispatch.enqueuer is None:

            def resolve(fn: Any) -> str:
                return fn if isinstance(fn, str) else self.registry.workflow_def(fn).name

            def handle(wid: str) -> WorkflowHandle:
                return WorkflowHandle(self._engine or Watcher(self.store), wid)  # type: ignore[arg-type]

            self._dispatch.enqueuer = Enqueuer(
                self.store, resolve=resolve, handle=handle, wake=self._dispatch.wake
            )
        return self._dispatch.enqueuer

    def queue_stats(self, window: float = 60.0) -> list[dict[str, Any]]:
        """Per queue and version: waiting, running, oldest wait, and over the last ``window``
        seconds finished counts, throughput and start-latency percentiles."""
        return queue_stats(self.store.db, self.app_name, window)

    def routing(self) -> Routing:
        """Where new queued work goes: the current version and an optional ramping share."""
        return self.store.versions.routing()

    def set_routing(
        self, *, current: Any = KEEP, ramping: str | None = None, percent: float | None = None
    ) -> Routing:
        """Route new queued work: all to ``current``, or ``percent`` % of new workflow ids
        (a stable hash) to ``ramping``. Versions must be known; scheduled work goes to current."""
        return set_routing(self.store, current=current, ramping=ramping, percent=percent)

    def scheduled(
        self,
        cron: str,
        *,
        timezone: str = "UTC",
        name: str | None = None,
        missed: Missed = "skip",
        queue: str | None = None,
    ) -> Callable[[F], F]:
        """Run a workflow on a cron schedule, once per tick across all executors; it receives
        the tick time (a timezone-aware datetime). ``missed``: "skip" or "catch_up"."""

        def decorate(fn: F) -> F:
            if getattr(fn, "__tether_workflow__", None) is None:
                fn = self.workflow()(fn)
            wname = fn.__tether_workflow__  # type: ignore[attr-defined]
            spec = ScheduleSpec(name or wname, wname, cron, timezone, missed, queue)
            self._dispatch.add_schedule(spec)
            return fn

        return decorate

    @property
    def schedules(self) -> Schedules:
        """Runtime-managed schedules: create, list, pause, resume, delete, trigger, backfill."""
        return self._dispatch.schedules(self.store)

    # -- starting and calling -----------------------------------------------------------------

    def start_workflow(
        self,
        fn: Callable[..., Any] | str,
        *args: Any,
        workflow_id: str | None = None,
        **kwargs: Any,
    ) -> WorkflowHandle:
        """Start a workflow in the background; the same ``workflow_id`` means the same run."""
        wdef = self.registry.workflow_def(fn)
        return self._engine_here().start(wdef, args, kwargs, workflow_id)

    async def start_workflow_async(
        self,
        fn: Callable[..., Any] | str,
        *args: Any,
        workflow_id: str | None = None,
        **kwargs: Any,
    ) -> WorkflowHandle:
        import asyncio

        wdef = self.registry.workflow_def(fn)
        return await asyncio.to_thread(self._engine_here().start, wdef, args, kwargs, workflow_id)

    def _engine_here(self) -> Engine:
        """The engine running the calling workflow (a replay brings its own), else the app's."""
        ctx = maybe_current()
        return ctx.engine if ctx is not None else self.engine

    def retrieve_workflow(self, workflow_id: str) -> WorkflowHandle:
        self.get_workflow(workflow_id)
        return WorkflowHandle(self.engine, workflow_id)

    # -- inspection and control ---------------------------------------------------------------

    def get_workflow(self, workflow_id: str) -> WorkflowRecord:
        rec = self.store.workflows.get(workflow_id)
        if rec is None:
            raise WorkflowNotFoundError(
                f"no workflow {workflow_id!r} in app {self.app_name!r}; "
                "list them with `tether workflows list`"
            )
        return rec

    def list_workflows(
        self,
        *,
        status: str | Sequence[str] | None = None,
        version: str | None = None,
        name: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[WorkflowRecord]:
        statuses = [status] if isinstance(status, str) else list(status or [])
        bad = [s for s in statuses if s not in Status.ALL]
        if bad:
            raise ConfigurationError(f"unknown status {bad}: use one of {', '.join(Status.ALL)}")
        if limit < 0 or offset < 0:
            raise ConfigurationError("limit and offset must be >= 0")
        return self.store.workflows.list(
            status=statuses or None, version=version, name=name, limit=limit, offset=offset
        )

    def list_steps(self, workflow_id: str) -> list[OperationRecord]:
        self.get_workflow(workflow_id)
        return self.store.operations.history(workflow_id)

    def cancel(self, workflow_id: str) -> list[str]:
        """Cancel a workflow and its children; running ones stop at their next step."""
        self.get_workflow(workflow_id)
        changed = self.store.workflows.cancel_tree(workflow_id)
        if self._engine is not None:
            from tether.runtime.errors import CancelledInterrupt

            for wid in changed:
                self._engine.signal(wid, CancelledInterrupt)
            self._engine.notify()
        return changed

    def resume(self, workflow_id: str) -> WorkflowHandle | None:
        """Reopen a cancelled, failed or parked workflow; a capable executor continues it.

        Works without ``launch()`` (the CLI reopens workflows for other processes to run);
        returns a handle to wait on only when this app is launched, else None.
        """
        rec = self.get_workflow(workflow_id)
        if rec.status not in Status.OPEN:
            self.store.workflows.resume_tree(workflow_id)
            if self._executor is not None:
                self._executor.wake()
                self._dispatch.wake(rec.queue_name)  # a queued workflow went back to its queue
        return WorkflowHandle(self._engine, workflow_id) if self._engine is not None else None

    def send(self, dest_id: str, message: Any, topic: str | None = None) -> None:
        """Send a message to a workflow from outside any workflow."""
        from tether.runtime import serialization
        from tether.runtime.context import maybe_current

        if maybe_current() is not None:
            primitives.send(dest_id, message, topic)
            return
        t = primitives._topic(topic)
        payload = serialization.dumps(message, f"message to {dest_id!r}")
        with self.store.db.write() as conn:
            self.store.messages.send(conn, dest_id, t, payload)
        if self._engine is not None:
            self._engine.notify()

    def get_event(self, workflow_id: str, key: str, timeout: float | None = 60.0) -> Any:
        """The value a workflow published with ``tether.set_event``; None after ``timeout``."""
        return primitives.get_event(self._engine_here(), workflow_id, key, timeout)

    async def get_event_async(
        self, workflow_id: str, key: str, timeout: float | None = 60.0
    ) -> Any:
        import asyncio

        return await asyncio.to_thread(
            primitives.wait_event, self.engine, workflow_id, key, timeout
        )

    def executors(self, *, include_stopped: bool = False) -> list[ExecutorRecord]:
        lease_ms = int(self.settings.lease_timeout * 1000)
        return self.store.executors.list(lease_ms, include_stopped=include_stopped)

    def orphaned(self) -> dict[str, int]:
        """Versions with open workflows that no live executor can run, with their counts."""
        open_by_version: dict[str, int] = {}
        for version, status, n in self.store.workflows.open_counts():
            if status in Status.OPEN:
                open_by_version[version] = open_by_version.get(version, 0) + n
        live = [e.runnable_versions for e in self.executors()]
        return orphaned_versions(open_by_version, live)

    def version_summary(self) -> list[dict[str, Any]]:
        """Per version: open workflows by status, live executors, orphaned count (dicts)."""
        return [v.to_dict() for v in self.versions()]

    # -- versions, migration and forks (tether.versioning) ------------------------------------

    def versions(self) -> list[VersionInfo]:
        """Every version of the app: release, state, patches, open work, executors, current."""
        return version_registry.list_versions(self.store, int(self.settings.lease_timeout * 1000))

    def tag_version(self, version: str, release: str | None) -> str | None:
        """Tag a version with a PEP 440 release (None clears it); returns the normal form."""
        return version_registry.tag(self.store, version, release)

    def retire_version(self, version: str) -> VersionInfo:
        """Retire a drained version (no new work routed to it, nothing open)."""
        return version_registry.retire(self.store, version, int(self.settings.lease_timeout * 1000))

    def current_version(self) -> str | None:
        """The version new work goes to (set on the app's first launch)."""
        return self.store.versions.routing().current

    def set_current_version(self, version: str) -> str:
        """Point new work at a known version (a name or a release tag); returns its name."""
        routing = version_registry.set_current(self.store, version, by=self._actor())
        assert routing.current is not None
        return routing.current

    def migrate_workflows(
        self,
        *,
        from_version: str,
        to_version: str,
        workflow_ids: Sequence[str] | None = None,
        dry_run: bool = False,
    ) -> MigrationReport:
        """Move open workflows to ``to_version`` (this process's code) if they replay on it."""
        return migration.migrate_workflows(
            self.store,
            from_version=from_version,
            to_version=to_version,
            code_version=self._code_version(),
            replay=self._replay,
            lease_timeout_ms=int(self.settings.lease_timeout * 1000),
            moved_by=self._actor(),
            workflow_ids=workflow_ids,
            dry_run=dry_run,
        )

    def fork(
        self,
        workflow_id: str,
        from_position: int,
        version: str | None = None,
        *,
        new_workflow_id: str | None = None,
    ) -> WorkflowRecord:
        """A new PENDING workflow with the inputs and history of ``workflow_id`` before
        ``from_position``, on ``version`` (default: the original's), linked to its origin."""
        rec = forking.fork(
            self.store,
            workflow_id,
            from_position,
            version=version,
            new_workflow_id=new_workflow_id,
            code_version=self._code_version(),
            replay=self._replay,
        )
        if self._executor is not None:
            self._executor.wake()
        return rec

    def workflow_moves(self, workflow_id: str) -> list[dict[str, Any]]:
        """The workflow's moves between versions: who moved it, from where to where, when."""
        self.get_workflow(workflow_id)
        return self.store.lineage.moves(workflow_id)

    def _code_version(self) -> str:
        return self._engine.version if self._engine is not None else self.resolve_version()[0]

    def _actor(self) -> str:
        executor = self._engine.executor_id if self._engine is not None else None
        return migration.actor(executor)

    def _replay(self, workflow_id: str) -> Any:
        from tether.versioning.replay import Replayer

        return Replayer(self).replay(workflow_id)

    # -- patches (tether.versioning.patch_report) ---------------------------------------------

    def patch_report(self) -> PatchReport:
        """Per patch gate in code or history: open workflows on the old path (found by
        replaying them on this code), histories carrying its marker, and what is safe now."""
        return patch_report.build(self, int(self.settings.lease_timeout * 1000))
