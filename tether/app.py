"""The ``Tether`` application object: registration, launch, and the management API."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from tether.runtime import primitives
from tether.runtime.children import start_child
from tether.runtime.context import maybe_current
from tether.runtime.dispatch import Dispatch
from tether.runtime.engine import Engine, EngineSettings
from tether.runtime.errors import ConfigurationError, WorkflowNotFoundError
from tether.runtime.executor import Executor
from tether.runtime.handles import WorkflowHandle
from tether.runtime.identity import resolve_executor_id
from tether.runtime.listing import Filters, When
from tether.runtime.records import ExecutorRecord, OperationRecord, Status, WorkflowRecord
from tether.runtime.registry import Registry
from tether.runtime.schedules import Missed, Schedules, ScheduleSpec
from tether.runtime.store import Store, redact
from tether.runtime.streams import StreamReader
from tether.runtime.waiting import StoreWaiter, Waiter
from tether.versioning import patch_scan
from tether.versioning.compat import RunnableSet
from tether.versioning.identity import check_version, resolve_version, source_hash
from tether.versioning.lifecycle import check_not_retired
from tether.versioning.patch_report import removed_gate_warnings
from tether.versioning.registry import stored_state

from .alias import alias
from .config import Settings
from .queues import Queues
from .retention import Retention
from .rollouts import Rollouts
from .routing import RoutingManager
from .versions import Versions

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from .otel import Telemetry

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
        suspend_after: float | None = 1.0,
        migrate: bool = True,
        install_signal_handlers: bool = True,
        telemetry: bool = False,
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
            suspend_after=suspend_after,
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
        self._shutdown_lock = threading.Lock()
        # OpenTelemetry (tether[otel]): instrumented at launch with the global providers.
        self._telemetry_wanted = telemetry
        self._telemetry: Telemetry | None = None
        # Built eagerly: it registers the controller workflows, which every executor must
        # know so that any of them can resume a rollout.
        self.rollouts = Rollouts(self)

    # -- registration -------------------------------------------------------------------------

    def workflow(
        self,
        *,
        name: str | None = None,
        max_recovery_attempts: int = 50,
        timeout: float | None = None,
    ) -> Callable[[F], F]:
        """Register a durable workflow (``def`` or ``async def``). ``timeout``: seconds from
        its start (or dequeue) until it is cancelled with its children, unless a start or
        an enqueue gives another (``workflow_timeout=``)."""

        def decorate(fn: F) -> F:
            return self.registry.add_workflow(  # type: ignore[return-value]
                fn, name=name, max_recovery_attempts=max_recovery_attempts, timeout=timeout
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
        timeout: float | None = None,
    ) -> Callable[[F], F]:
        """Register a checkpointed step; failed attempts retry with exponential backoff.
        ``timeout``: seconds an attempt may take before it fails with StepTimeoutError (a
        sync attempt's thread is abandoned, an async one is cancelled)."""

        def decorate(fn: F) -> F:
            return self.registry.add_step(  # type: ignore[return-value]
                fn,
                name=name,
                retries=retries,
                backoff=backoff,
                interval=interval,
                max_interval=max_interval,
                retry_on=retry_on,
                timeout=timeout,
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

    @property
    def launched(self) -> bool:
        """True once ``launch()`` ran: this process runs workflows (an admin app never does)."""
        return self._engine is not None

    def resolve_version(self) -> tuple[str, str]:
        sources = [w.source for w in self.registry.workflows.values()]
        return resolve_version(self.settings.version, self.app_name, sources)

    def source_hash(self) -> str:
        """The hash of this code's workflow sources, whatever the version is named."""
        return source_hash(self.app_name, [w.source for w in self.registry.workflows.values()])

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
        check_not_retired(version, stored_state(store, version), doing="launch")
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
                suspend_after=s.suspend_after,
            ),
        )
        self.registry.engine = self._engine
        if self._telemetry is not None:
            self._engine.observer = self._telemetry
        elif self._telemetry_wanted:
            self.instrument()
        patches = patch_scan.names(self.registry.workflows.values())
        store.versions.seen(
            version,
            patches=patches,
            platform_revision=os.environ.get("K_REVISION"),
            workflows=self.registry.workflows,
            source_hash=self.source_hash(),
        )
        for warning in removed_gate_warnings(store, patches):
            log.warning("%s", warning)
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

    def instrument(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> Telemetry:
        """Trace and measure this app's runs with OpenTelemetry (``pip install
        'tether[otel]'``): spans per run and step, metrics (see ``tether.otel``). Before or
        after ``launch()``; the global providers unless given."""
        from .otel import Telemetry

        self.uninstrument()
        self._telemetry = Telemetry(
            self.app_name,
            self.store,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )
        if self._engine is not None:
            self._engine.observer = self._telemetry
        return self._telemetry

    def uninstrument(self) -> None:
        """Stop observing this app's runs (what ``instrument`` started)."""
        if self._engine is not None:
            self._engine.observer = None
        if self._telemetry is not None:
            self._telemetry.close()
            self._telemetry = None

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
        """Drain: stop claiming, let steps in flight finish within ``grace``, release leases.

        Safe to call from several threads (a SIGTERM drain and a server's shutdown hook):
        a second call waits for the first drain to finish instead of starting another.
        """
        with self._shutdown_lock:
            self._dispatch.stop()
            if self._executor is not None and not self._executor.stopped:
                self._executor.drain(grace)
            if self._engine is not None:
                self._engine.close()
            self.uninstrument()  # after the drain: the runs it stopped end their spans

    def recover_now(self) -> list[str]:
        """Claim recoverable workflows now rather than at the next recovery round (the
        target of a wake-up); returns the ids of those this executor claimed."""
        _ = self.engine  # raises when not launched
        if self._executor is None or self._executor.stopped:
            return []
        return self._executor.claim_round()

    def close(self) -> None:
        """Close the database connections of an app that runs nothing (an administering one,
        or one after ``shutdown()``)."""
        if self._store is not None:
            self._store.close()

    # -- managers: queues, routing, schedules, versions, rollouts -----------------------------
    # Each concern is a manager built on first use; the facade keeps an alias (the manager's
    # own method) only for the names the README tours.

    @cached_property
    def queues(self) -> Queues:
        """Declare queues, enqueue into them, and read their load (``app.queues.stats()``)."""
        return Queues(
            self._dispatch, store=lambda: self.store, registry=self.registry, engine=self._local
        )

    @cached_property
    def routing(self) -> RoutingManager:
        """Where new queued work goes: ``app.routing()`` reads it, ``.set(...)`` changes it."""
        return RoutingManager(lambda: self.store, self.settings.lease_timeout_ms)

    @cached_property
    def versions(self) -> Versions:
        """The version registry: ``app.versions()`` lists; tag, retire, migrate, fork."""
        return Versions(self, wake=self._wake_executor)

    @cached_property
    def retention(self) -> Retention:
        """History retention: ``app.retention(max_age="30d")`` schedules it, ``.collect()``
        deletes finished workflows now."""
        return Retention(self)

    @property
    def schedules(self) -> Schedules:
        """Runtime-managed schedules: create, list, pause, resume, delete, trigger, backfill."""
        return self._dispatch.schedules(self.store)

    queue = alias("queues", Queues.declare)
    orphaned = alias("versions", Versions.orphaned)
    tag_version = alias("versions", Versions.tag)
    retire_version = alias("versions", Versions.retire)
    set_current_version = alias("versions", Versions.set_current)
    migrate_workflows = alias("versions", Versions.migrate)
    fork = alias("versions", Versions.fork)
    patch_report = alias("versions", Versions.patch_report)
    set_routing = alias("routing", RoutingManager.set)

    def queue_stats(self, window: float = 60.0) -> list[dict[str, Any]]:
        """``app.queues.stats`` as dicts."""
        return [s.to_dict() for s in self.queues.stats(window)]

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

    # -- starting and calling -----------------------------------------------------------------

    def start_workflow(
        self,
        fn: Callable[..., Any] | str,
        *args: Any,
        workflow_id: str | None = None,
        workflow_timeout: float | None = None,
        **kwargs: Any,
    ) -> WorkflowHandle:
        """Start a workflow in the background; the same ``workflow_id`` means the same run.
        ``workflow_timeout``: seconds until it is cancelled with its children (durable)."""
        wdef = self.registry.workflow_def(fn)
        return self._start_here(wdef, args, kwargs, workflow_id, workflow_timeout)

    async def start_workflow_async(
        self,
        fn: Callable[..., Any] | str,
        *args: Any,
        workflow_id: str | None = None,
        workflow_timeout: float | None = None,
        **kwargs: Any,
    ) -> WorkflowHandle:
        import asyncio

        wdef = self.registry.workflow_def(fn)
        return await asyncio.to_thread(
            self._start_here, wdef, args, kwargs, workflow_id, workflow_timeout
        )

    def _start_here(
        self,
        wdef: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        workflow_id: str | None,
        timeout: float | None = None,
    ) -> WorkflowHandle:
        """From workflow code a recorded child (also in a replay), else through the engine."""
        ctx = maybe_current()
        if ctx is not None:
            return start_child(ctx, wdef, args, kwargs, workflow_id)
        self.versions.check_can_start(self.engine.version)  # a retired version starts nothing
        return self.engine.start(wdef, args, kwargs, workflow_id, timeout)

    def _local(self) -> Engine | None:
        """The engine of this process, if launched."""
        return self._engine

    def _wake_executor(self) -> None:
        if self._executor is not None:
            self._executor.wake()

    def retrieve_workflow(self, workflow_id: str) -> WorkflowHandle:
        self.get_workflow(workflow_id)
        return self.engine.handle(workflow_id)

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
        id_prefix: str | None = None,
        parent_id: str | None = None,
        queue: str | None = None,
        forked_from: str | None = None,
        created_after: When = None,
        created_before: When = None,
        completed_after: When = None,
        completed_before: When = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[WorkflowRecord]:
        """Workflows newest first, filtered by all the given: ``status`` (one or several),
        ``version``, ``name``, ``id_prefix``, ``parent_id``, ``queue``, ``forked_from``, and
        time windows on creation and completion (after: inclusive, before: exclusive; a
        datetime, naive meaning UTC, or epoch milliseconds)."""
        filters = Filters(
            id_prefix,
            parent_id,
            queue,
            forked_from,
            created_after,
            created_before,
            completed_after,
            completed_before,
        )
        statuses = [status] if isinstance(status, str) else list(status or [])
        bad = [s for s in statuses if s not in Status.ALL]
        if bad:
            raise ConfigurationError(f"unknown status {bad}: use one of {', '.join(Status.ALL)}")
        if limit < 0 or offset < 0:
            raise ConfigurationError("limit and offset must be >= 0")
        return self.store.workflows.list(
            status=statuses or None,
            version=version,
            name=name,
            limit=limit,
            offset=offset,
            **filters.to_store(),
        )

    def list_steps(self, workflow_id: str) -> list[OperationRecord]:
        self.get_workflow(workflow_id)
        return self.store.operations.history(workflow_id)

    def cancel(self, workflow_id: str) -> list[str]:
        """Cancel a workflow and its children; running ones stop at their next step."""
        self.get_workflow(workflow_id)
        changed = self.store.workflows.cancel_tree(workflow_id)  # wakes suspended parents
        if self._engine is not None:
            from tether.runtime.errors import CancelledInterrupt

            for wid in changed:
                self._engine.signal(wid, CancelledInterrupt)
            self._engine.notify()
        return changed

    def delete_workflow(self, workflow_id: str, *, children: bool = True) -> list[str]:
        """Delete a finished workflow for good: its row, operations, messages, events and
        streams, and (``children``) its descendants'; returns the ids deleted. An open
        workflow is refused: cancel it first."""
        return self.store.deletion.delete(workflow_id, children=children)

    def resume(self, workflow_id: str) -> WorkflowHandle | None:
        """Reopen a cancelled, failed or parked workflow; a capable executor continues it.

        Works without ``launch()`` (the CLI reopens workflows for other processes to run);
        returns a handle to wait on only when this app is launched, else None.
        """
        rec = self.get_workflow(workflow_id)
        if rec.status not in Status.RUNNABLE:
            self.store.workflows.resume_tree(workflow_id)
            if self._executor is not None:
                self._executor.wake()
                self._dispatch.wake(rec.queue_name)  # a queued workflow went back to its queue
        return self._engine.handle(workflow_id) if self._engine is not None else None

    def send(
        self,
        dest_id: str,
        message: Any,
        topic: str | None = None,
        *,
        allow_missing: bool = False,
        idempotency_key: str | None = None,
    ) -> None:
        """Send a message to a workflow. A workflow id that does not exist raises
        WorkflowNotFoundError, unless ``allow_missing`` (sending ahead of its start); with
        ``idempotency_key``, a repeat of the send (same key, same workflow) delivers nothing."""
        if maybe_current() is not None:
            primitives.send(
                dest_id,
                message,
                topic,
                allow_missing=allow_missing,
                idempotency_key=idempotency_key,
            )
            return
        primitives.deliver(
            self.store,
            dest_id,
            message,
            topic,
            allow_missing=allow_missing,
            idempotency_key=idempotency_key,
        )
        if self._engine is not None:
            self._engine.recorder.notify_addressee(dest_id)  # its recv here, or its wake-up

    def get_event(self, workflow_id: str, key: str, timeout: float | None = 60.0) -> Any:
        """The value a workflow published with ``tether.set_event``; None after ``timeout``.
        Works without ``launch()``, like ``send``."""
        if maybe_current() is not None:
            return primitives.get_event(None, workflow_id, key, timeout)
        return primitives.wait_event(self._waiter(), workflow_id, key, timeout)[1]

    def get_event_async(
        self, workflow_id: str, key: str, timeout: float | None = 60.0
    ) -> Coroutine[Any, Any, Any]:
        """``get_event`` for async code: the value (None after ``timeout``). In an async
        workflow it is recorded and durable like ``get_event`` there."""
        if maybe_current() is not None:
            return primitives.get_event_async(None, workflow_id, key, timeout)
        return primitives.get_event_async(self._waiter(), workflow_id, key, timeout)

    def _waiter(self) -> Waiter:
        """How this process waits on workflows: the engine's, else one polling the store."""
        if self._engine is not None:
            return self._engine.waiter
        return StoreWaiter(self.store, self.settings.poll_interval)

    def read_stream(
        self, workflow_id: str, key: str, offset: int = 0, timeout: float | None = 60.0
    ) -> Iterator[Any]:
        """The values workflow ``workflow_id`` wrote to stream ``key`` (``tether.write_stream``),
        from ``offset``, live until the stream ends; stops early after ``timeout`` seconds
        with nothing new. The n-th value is at offset ``offset + n``: resume from there."""
        return self._streams().read(workflow_id, key, offset, timeout)

    def read_stream_async(
        self, workflow_id: str, key: str, offset: int = 0, timeout: float | None = 60.0
    ) -> AsyncIterator[Any]:
        """``read_stream`` for async code: ``async for value in app.read_stream_async(...)``."""
        return self._streams().read_async(workflow_id, key, offset, timeout)

    def _streams(self) -> StreamReader:
        return StreamReader(self.store, self._waiter())

    def executors(self, *, include_stopped: bool = False) -> list[ExecutorRecord]:
        """Live executors (heartbeating within the lease timeout); all with include_stopped."""
        return self.store.executors.list(
            self.settings.lease_timeout_ms, include_stopped=include_stopped
        )

    def version_summary(self) -> list[dict[str, Any]]:
        """``app.versions()`` as dicts."""
        return [v.to_dict() for v in self.versions()]
