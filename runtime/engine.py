"""Workflow lifecycle: start (idempotently), execute, checkpoint, finish.

Sync workflows run on a bounded thread pool (or inline, in the caller's thread, when called
directly); async workflows run on one engine-owned event loop, with store calls on a small
I/O pool. Every write a running workflow makes is fenced by its lease (see store.operations).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from . import children, observe, serialization, timeouts
from .clock import now_ms
from .context import _CURRENT, PendingRow, WorkflowContext, maybe_current
from .errors import (
    NOT_AN_OUTCOME,
    CancelledInterrupt,
    ConfigurationError,
    DatabaseUnavailableError,
    DrainingInterrupt,
    LeaseLostInterrupt,
    NondeterminismError,
    StoreUnavailableInterrupt,
    SuspendedInterrupt,
    TetherError,
    WorkflowCancelledError,
    WorkflowConflictError,
    WorkflowInterrupt,
)
from .handles import WorkflowHandle
from .ids import check_workflow_id
from .observe import Observer, RunInfo, RunObservation
from .recorder import Effect, LiveRecorder
from .records import Status
from .registry import Registry, WorkflowDef
from .run import Outcome, Run
from .selfcheck import LeaseClock
from .serialization import decode_inputs, encode_inputs
from .store import Fence, Store

__all__ = ["Engine", "EngineSettings", "decode_inputs", "encode_inputs"]


@dataclass(frozen=True)
class EngineSettings:
    lease_timeout: float = 10.0
    heartbeat_interval: float = 2.0
    recovery_interval: float = 1.0
    poll_interval: float = 0.5
    max_workflows: int = 128
    shutdown_grace: float = 8.0
    claim_batch: int = 64
    # Seconds a durable wait (sleep, recv) holds its thread before the workflow is suspended
    # (see runtime.suspension); None keeps every wait in memory.
    suspend_after: float | None = 1.0

    @property
    def lease_ms(self) -> int:
        return int(self.lease_timeout * 1000)


class Engine:
    def __init__(
        self,
        *,
        store: Store,
        registry: Registry,
        version: str,
        executor_id: str,
        runnable: Callable[[], frozenset[str]],
        settings: EngineSettings,
    ) -> None:
        self.store = store
        self.registry = registry
        self.version = version
        self.executor_id = executor_id
        self.runnable = runnable
        self.settings = settings
        # The executor heartbeating for this engine feeds it (see selfcheck).
        self.lease_clock = LeaseClock(settings.lease_timeout)
        self.recorder = LiveRecorder(
            store, version, settings.poll_interval, settings.suspend_after, self.lease_clock
        )
        self.waiter = self.recorder.waiter
        # Notified when a local workflow ends or a message lands (see waiting.Signal).
        self.changes = self.recorder.signal
        self.draining = False
        self._pool = ThreadPoolExecutor(settings.max_workflows, thread_name_prefix="tether-wf")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()
        self._running: dict[str, WorkflowContext] = {}
        self._submitted: set[str] = set()
        self._lock = threading.Lock()
        # Called with a workflow id when a local run ends and frees its slot (queues).
        self.finish_hooks: list[Callable[[str], None]] = []
        # Called when a start found no free slot and left its workflow unheld.
        self.overflow_hooks: list[Callable[[], None]] = []
        self.overflowed = 0
        # Workflows whose run here was fenced out: another holder took them, possibly a
        # process reusing this executor id, so the self-audit must not take them back.
        self.fenced_out: set[str] = set()
        # Told of runs, steps and queue waits (see runtime.observe); None: nothing is.
        self.observer: Observer | None = None

    # -- capacity -----------------------------------------------------------------------------

    def free_slots(self) -> int:
        with self._lock:
            return self.settings.max_workflows - len(self._submitted)

    def running_ids(self) -> list[str]:
        with self._lock:
            return list(self._running)

    def local_ids(self) -> list[str]:
        """Every workflow this engine runs or has queued to run (its self-audit compares)."""
        with self._lock:
            return list(self._submitted)

    def is_local(self, workflow_id: str) -> bool:
        with self._lock:
            return workflow_id in self._submitted

    def notify(self) -> None:
        self.changes.notify()

    def signal(self, workflow_id: str, kind: type[WorkflowInterrupt]) -> None:
        with self._lock:
            ctx = self._running.get(workflow_id)
        if ctx is not None:
            ctx.signal(kind)

    def handle(self, workflow_id: str) -> WorkflowHandle:
        return WorkflowHandle(self.waiter, workflow_id)

    # -- the event loop for async workflows ---------------------------------------------------

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                threading.Thread(target=run, name="tether-loop", daemon=True).start()
                ready.wait()
                self._loop = loop
            return self._loop

    async def in_io(self, fn: Callable[[], Any]) -> Any:
        return await self.recorder.in_io(fn)

    # -- starting -----------------------------------------------------------------------------

    def _create(
        self,
        wdef: WorkflowDef,
        wid: str,
        inputs_json: str,
        conn: Connection,
        *,
        parent: tuple[str, int] | None = None,
        timeout: float | None = None,
        held: bool = True,
        trace_context: str | None = None,
    ) -> bool:
        return self.store.workflows.insert(
            conn,
            workflow_id=wid,
            name=wdef.name,
            inputs_json=inputs_json,
            version=self.version,
            status=Status.PENDING,
            executor_id=self.executor_id if held else None,
            parent_id=parent[0] if parent else None,
            parent_position=parent[1] if parent else None,
            extra=timeouts.columns(self.store, conn, wdef, timeout, parent),
            trace_context=trace_context,
        )

    def _check_existing(self, wdef: WorkflowDef, wid: str) -> None:
        rec = self.store.workflows.get(wid)
        if rec is not None and rec.name != wdef.name:
            raise WorkflowConflictError(
                f"workflow id {wid!r} already belongs to workflow {rec.name!r}, not "
                f"{wdef.name!r}: choose another id"
            )

    def _refuse_if_draining(self) -> None:
        if self.draining:
            raise TetherError(
                "this executor is shutting down and starts no new workflows; "
                "start it on another instance"
            )

    def _fresh(
        self,
        wdef: WorkflowDef,
        wid: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        trace_context: str | None = None,
    ) -> Run:
        """A run of a workflow this executor just created (epoch 0, no history)."""
        fence = Fence(wid, self.executor_id, 0)
        return Run(wdef, wid, args, kwargs, fence, trace_context=trace_context)

    def start(
        self,
        wdef: WorkflowDef,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        workflow_id: str | None = None,
        timeout: float | None = None,
    ) -> WorkflowHandle:
        """Durably create the workflow, then run it in the background (``timeout``: seconds
        until its deadline, overriding the workflow's declared one)."""
        ctx = maybe_current()
        if ctx is not None:
            return children.start_child(ctx, wdef, args, kwargs, workflow_id)
        self._refuse_if_draining()
        wid = str(uuid.uuid4()) if workflow_id is None else check_workflow_id(workflow_id)
        inputs_json = encode_inputs(wid, wdef.name, args, kwargs)
        trace = observe.capture()
        # Beyond max_workflows the row is written unheld: visible, and claimable by any
        # executor (this one too, when a slot frees) instead of queued invisibly here.
        held = self._take_slot(wid, bounded=True)
        try:
            created = self.store.db.run_write(
                lambda c: self._create(
                    wdef, wid, inputs_json, c, timeout=timeout, held=held, trace_context=trace
                ),
                single_statement=True,
            )
            if not created:
                # A repeat of an insert whose commit was not known (a broken connection)
                # finds this executor's own fresh row: run it rather than strand it.
                created = held and self._own_fresh(wid)
        except BaseException:
            self._release_slot(wid, held)
            raise
        if created and held:
            self._launch(self._fresh(wdef, wid, args, kwargs, trace))
            return self.handle(wid)
        self._release_slot(wid, held)
        if not created:
            self._check_existing(wdef, wid)
        else:
            self.overflowed += 1
            for hook in self.overflow_hooks:
                hook()
        return self.handle(wid)

    def _own_fresh(self, wid: str) -> bool:
        rec = self.store.workflows.get(wid)
        return (
            rec is not None
            and rec.status == Status.PENDING
            and rec.executor_id == self.executor_id
            and rec.lease_epoch == 0
            and not self.store.operations.history(wid)
        )

    def submit(self, run: Run) -> None:
        """Run a workflow this executor holds, in the background."""
        if not self._take_slot(run.workflow_id):
            return
        self._launch(run)

    def _launch(self, run: Run) -> None:
        """Run ``run``, whose slot is taken, in the background."""
        if run.wdef.is_async:
            asyncio.run_coroutine_threadsafe(self._execute_async(run), self.loop())
        else:
            self._pool.submit(self._execute, run)

    def _take_slot(self, wid: str, *, bounded: bool = False) -> bool:
        """Count ``wid`` as running here; False if it already is (or, ``bounded``, when
        every slot is taken)."""
        with self._lock:
            if wid in self._submitted:
                return False
            if bounded and len(self._submitted) >= self.settings.max_workflows:
                return False
            self._submitted.add(wid)
            self.fenced_out.discard(wid)  # this process runs it again (it took it back)
            return True

    def _release_slot(self, wid: str, held: bool) -> None:
        if held:
            with self._lock:
                self._submitted.discard(wid)

    def call(self, wdef: WorkflowDef, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A direct call of a sync workflow: run durably, inline, and return its result."""
        ctx = maybe_current()
        if ctx is not None:
            return children.call_child(ctx, wdef, args, kwargs)
        run = self._direct(wdef, args, kwargs)
        outcome = self._execute(run)
        assert run.pending_row is not None
        run.pending_row.write.wait()
        return self.deliver(run.workflow_id, outcome)

    def call_async(
        self, wdef: WorkflowDef, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Coroutine[Any, Any, Any]:
        ctx = maybe_current()
        if ctx is not None:
            return children.call_child_async(ctx, wdef, args, kwargs)
        return self._call_async_top(wdef, args, kwargs)

    async def _call_async_top(
        self, wdef: WorkflowDef, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        run = self._direct(wdef, args, kwargs)
        task = asyncio.get_running_loop().create_task(
            self._execute_async(run), context=contextvars.Context()
        )
        outcome = await task
        assert run.pending_row is not None
        await self.in_io(run.pending_row.write.wait)
        return self.deliver(run.workflow_id, outcome)

    def _direct(self, wdef: WorkflowDef, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Run:
        """A direct call's run, its row queued for the next group commit (write-behind).

        The body starts at once. Every later write of this workflow queues behind the row
        (FIFO), so nothing is reported done before the row is durable, and the first step
        waits for the row before it runs (a crash mid-step leaves a row to recover). A body
        with no step commits its row and its result together (see ``_finish``).
        """
        self._refuse_if_draining()
        wid = str(uuid.uuid4())
        inputs_json = encode_inputs(wid, wdef.name, args, kwargs)
        started = now_ms()
        trace = observe.capture()
        write = self.store.db.submit_write(
            lambda c: self._create(wdef, wid, inputs_json, c, trace_context=trace),
            single_statement=True,
            key=wid,
        )
        self._take_slot(wid)
        run = self._fresh(wdef, wid, args, kwargs, trace)
        run.pending_row = PendingRow(write, inputs_json, started, trace)
        return run

    def deliver(self, wid: str, outcome: Outcome) -> Any:
        err = outcome.error
        if err is None:
            return outcome.value
        if isinstance(err, CancelledInterrupt):
            raise WorkflowCancelledError(f"workflow {wid!r} was cancelled")
        if isinstance(err, (LeaseLostInterrupt, SuspendedInterrupt)):
            return self.handle(wid).result()  # it goes on elsewhere, or here when woken
        if isinstance(err, StoreUnavailableInterrupt):
            raise DatabaseUnavailableError(
                f"workflow {wid!r} stopped because the database was unreachable; it runs "
                "again from its checkpoints once the database is back (see its handle)"
            ) from err.__cause__
        raise err

    # -- child workflows (children.Spawner) ---------------------------------------------------

    def create_child(
        self, wdef: WorkflowDef, wid: str, inputs_json: str, parent: str, pos: int
    ) -> Effect:
        trace = observe.capture()  # here, in the parent's thread: its run is the current span
        return lambda conn, _store: self._create(
            wdef, wid, inputs_json, conn, parent=(parent, pos), trace_context=trace
        )

    def adopt(self, wid: str) -> None:
        rec = self.store.workflows.get(wid)
        if rec and rec.status == Status.PENDING and rec.executor_id == self.executor_id:
            wdef = self.registry.workflow_def(rec.name)
            args, kwargs = decode_inputs(rec.inputs)
            fence = Fence(wid, self.executor_id, rec.lease_epoch)
            self.submit(Run(wdef, wid, args, kwargs, fence, None, trace_context=rec.trace_context))

    def run_inline(
        self, wdef: WorkflowDef, wid: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Outcome:
        self._take_slot(wid)
        run = self._fresh(wdef, wid, args, kwargs, observe.capture())
        return contextvars.Context().run(self._execute, run)

    async def run_inline_async(
        self, wdef: WorkflowDef, wid: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Outcome:
        self._take_slot(wid)
        run = self._fresh(wdef, wid, args, kwargs, observe.capture())
        if wdef.is_async:
            coro = self._execute_async(run)
            return await asyncio.get_running_loop().create_task(coro, context=contextvars.Context())
        outcome: Outcome = await self.in_io(lambda: contextvars.Context().run(self._execute, run))
        return outcome

    # -- execution ----------------------------------------------------------------------------

    def _observe(self, run: Run) -> RunObservation | None:
        observer = self.observer
        if observer is None:
            return None
        info = RunInfo(
            run.workflow_id,
            run.wdef.name,
            self.version,
            self.executor_id,
            run.reason,
            run.fence.epoch,
            run.trace_context,
            run.crashed,
        )
        return observer.run(info)

    def _context(
        self, run: Run, history: list[Any], observed: RunObservation | None
    ) -> WorkflowContext:
        ctx = WorkflowContext(
            recorder=self.recorder,
            workflow_id=run.workflow_id,
            name=run.wdef.name,
            version=self.version,
            fence=run.fence,
            history={op.position: op for op in history},
            is_async=run.wdef.is_async,
            spawner=self,
            pending_row=run.pending_row,
            observed=observed,
        )
        with self._lock:
            self._running[run.workflow_id] = ctx
            if self.draining:
                ctx.signal(DrainingInterrupt)
        return ctx

    def _execute(self, run: Run) -> Outcome:
        outcome = Outcome()
        observed = None if self.observer is None else self._observe(run)
        try:
            history = run.history
            if history is None:
                history = self.store.operations.history(run.workflow_id)
            ctx = self._context(run, history, observed)
            token = _CURRENT.set(ctx)
            try:
                outcome.value = run.wdef.fn(*run.args, **run.kwargs)
            except BaseException as exc:  # noqa: BLE001 - every outcome is recorded
                outcome.error = exc
            finally:
                _CURRENT.reset(token)
            self._finish(ctx, outcome)
        except BaseException as exc:  # noqa: BLE001 - store failure while finishing
            outcome.error = outcome.error or exc
        finally:
            if observed is not None:
                observed.ended(observe.outcome_of(outcome.error), outcome.error)
            self._forget(run.workflow_id)
        return outcome

    async def _execute_async(self, run: Run) -> Outcome:
        outcome = Outcome()
        observed = None if self.observer is None else self._observe(run)
        try:
            history = run.history
            if history is None:
                wid = run.workflow_id
                history = await self.in_io(lambda: self.store.operations.history(wid))
            ctx = self._context(run, history, observed)
            token = _CURRENT.set(ctx)
            try:
                outcome.value = await run.wdef.fn(*run.args, **run.kwargs)
            except BaseException as exc:  # noqa: BLE001 - every outcome is recorded
                outcome.error = exc
            finally:
                _CURRENT.reset(token)
            await self.in_io(lambda: self._finish(ctx, outcome))
        except BaseException as exc:  # noqa: BLE001
            outcome.error = outcome.error or exc
        finally:
            if observed is not None:
                observed.ended(observe.outcome_of(outcome.error), outcome.error)
            self._forget(run.workflow_id)
        return outcome

    def _forget(self, wid: str) -> None:
        with self._lock:
            self._running.pop(wid, None)
            self._submitted.discard(wid)
        self.notify()
        for hook in self.finish_hooks:
            hook(wid)

    def _finish(self, ctx: WorkflowContext, outcome: Outcome) -> None:
        """Record the workflow's end (fenced); interrupts record nothing."""
        if ctx.diverged is not None:
            outcome.error = ctx.diverged  # even if the workflow code caught it
        err = outcome.error
        if isinstance(err, NOT_AN_OUTCOME):
            if isinstance(err, LeaseLostInterrupt):
                with self._lock:
                    self.fenced_out.add(ctx.workflow_id)
            return
        output_json = error_json = None
        status = Status.SUCCESS
        if err is None:
            try:
                where = f"workflow {ctx.workflow_id!r} ({ctx.name}) output"
                output_json = serialization.dumps(outcome.value, where)
            except TetherError as exc:
                outcome.error = err = exc
        if err is not None:
            output_json = None
            status = Status.PARKED if isinstance(err, NondeterminismError) else Status.ERROR
            error_json = json.dumps(serialization.error_to_json(err))
        row = ctx.pending_row
        if row is not None and row.write.withdraw():
            # The run ended before its row was taken by a commit (no step ran): write the
            # row already finished, one statement instead of an insert and an update.
            self._insert_finished(ctx, row, status, output_json, error_json)
            return
        self.recorder.finish(ctx.fence, status, output_json, error_json)

    def _insert_finished(
        self,
        ctx: WorkflowContext,
        row: PendingRow,
        status: str,
        output_json: str | None,
        error_json: str | None,
    ) -> None:
        wf = self.store.workflows
        created = self.store.db.run_write(
            lambda conn: wf.insert_finished(
                conn,
                workflow_id=ctx.workflow_id,
                name=ctx.name,
                inputs_json=row.inputs_json,
                version=self.version,
                executor_id=ctx.fence.executor_id,
                status=status,
                output_json=output_json,
                error_json=error_json,
                started_at=row.started_at,
                trace_context=row.trace_context,
            ),
            single_statement=True,
            key=ctx.workflow_id,
        )
        row.write.settle(created)

    # -- recovery entry point (called by the executor loop) -----------------------------------

    def run_claimed(
        self, wid: str, epoch: int, reason: str = observe.RECOVERY, crashed: bool = False
    ) -> None:
        rec = self.store.workflows.get(wid)
        if rec is None or rec.status != Status.PENDING:
            return
        fence = Fence(wid, self.executor_id, epoch)
        try:
            wdef = self.registry.workflow_def(rec.name)
        except ConfigurationError as exc:
            err = json.dumps(serialization.error_to_json(exc))
            self.recorder.finish(fence, Status.ERROR, error_json=err)
            return
        args, kwargs = decode_inputs(rec.inputs)
        run = Run(wdef, wid, args, kwargs, fence, None, None, reason, rec.trace_context, crashed)
        self.submit(run)

    def run_woken(
        self, wid: str, name: str, inputs_json: str, epoch: int, trace_context: str | None = None
    ) -> None:
        """Resume a workflow woken from suspension that this executor just claimed."""
        wdef = self.registry.workflows.get(name)
        if wdef is None:
            self.run_claimed(wid, epoch)  # records a clear error for an unknown name
            return
        args, kwargs = decode_inputs(serialization.loads(inputs_json))
        fence = Fence(wid, self.executor_id, epoch)
        self.submit(Run(wdef, wid, args, kwargs, fence, None, None, observe.RESUME, trace_context))

    def close(self, wait: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)
        self.recorder.close()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
