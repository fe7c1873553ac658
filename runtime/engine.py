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

from . import serialization
from .children import CHILD, ChildWorkflows
from .clock import now_ms
from .context import _CURRENT, WorkflowContext, maybe_current
from .errors import (
    CancelledInterrupt,
    ConfigurationError,
    DrainingInterrupt,
    LeaseLostInterrupt,
    NondeterminismError,
    TetherError,
    WorkflowCancelledError,
    WorkflowConflictError,
    WorkflowInterrupt,
)
from .handles import WorkflowHandle
from .records import OperationRecord, Status
from .registry import Registry, WorkflowDef
from .serialization import decode_inputs, encode_inputs
from .steps import StepRunner
from .store import Fence, Store
from .store.commit import PendingWrite

__all__ = ["CHILD", "Engine", "EngineSettings", "decode_inputs", "encode_inputs"]


@dataclass(frozen=True)
class EngineSettings:
    lease_timeout: float = 10.0
    heartbeat_interval: float = 2.0
    recovery_interval: float = 1.0
    poll_interval: float = 0.5
    max_workflows: int = 128
    shutdown_grace: float = 8.0
    claim_batch: int = 64


@dataclass
class _Outcome:
    value: Any = None
    error: BaseException | None = None


class Engine(ChildWorkflows):
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
        self.steps = StepRunner(self)
        self.draining = False
        self._pool = ThreadPoolExecutor(settings.max_workflows, thread_name_prefix="tether-wf")
        self._io = ThreadPoolExecutor(16, thread_name_prefix="tether-io")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()
        self._running: dict[str, WorkflowContext] = {}
        self._submitted: set[str] = set()
        self._lock = threading.Lock()
        self.changed = (
            threading.Condition()
        )  # notified when a local workflow ends or a message lands
        self.generation = 0
        # Called with a workflow id when a local run ends and frees its slot (queues).
        self.finish_hooks: list[Callable[[str], None]] = []

    # -- capacity -----------------------------------------------------------------------------

    def free_slots(self) -> int:
        with self._lock:
            return self.settings.max_workflows - len(self._submitted)

    def running_ids(self) -> list[str]:
        with self._lock:
            return list(self._running)

    def is_local(self, workflow_id: str) -> bool:
        with self._lock:
            return workflow_id in self._submitted

    def notify(self) -> None:
        with self.changed:
            self.generation += 1
            self.changed.notify_all()

    def signal(self, workflow_id: str, kind: type[WorkflowInterrupt]) -> None:
        with self._lock:
            ctx = self._running.get(workflow_id)
        if ctx is not None:
            ctx.signal(kind)

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
        return await asyncio.get_running_loop().run_in_executor(self._io, fn)

    # -- recording ----------------------------------------------------------------------------

    def record(
        self, ctx: WorkflowContext, op: OperationRecord, then: Callable[[Connection], Any] | None
    ) -> None:
        _refuse_when_replaying(ctx, op)
        ops = self.store.operations
        ok = self.store.db.run_write(
            lambda conn: ops.record(conn, ctx.fence, op, version=self.version, then=then),
            single_statement=then is None,
            key=ctx.workflow_id,
        )
        if not ok:
            self._fenced_out(ctx)

    async def arecord(
        self, ctx: WorkflowContext, op: OperationRecord, then: Callable[[Connection], Any] | None
    ) -> None:
        await self.in_io(lambda: self.record(ctx, op, then))

    def record_behind(self, ctx: WorkflowContext, op: OperationRecord) -> None:
        """Queue ``op`` for the next group commit and return at once.

        Only for records whose loss is harmless because a later run would record the same
        thing again (a patch marker). Commits are FIFO, so it still lands before any later
        write of this run; a fenced-out write is noticed by the next one.
        """
        _refuse_when_replaying(ctx, op)
        ops = self.store.operations
        self.store.db.submit_write(
            lambda conn: ops.record(conn, ctx.fence, op, version=self.version),
            single_statement=True,
            key=ctx.workflow_id,
        )

    def _fenced_out(self, ctx: WorkflowContext) -> None:
        rec = self.store.workflows.get(ctx.workflow_id)
        if rec is not None and rec.status == Status.CANCELLED:
            raise CancelledInterrupt(ctx.workflow_id)
        raise LeaseLostInterrupt(ctx.workflow_id)

    def on_replay_exhausted(
        self, ctx: WorkflowContext, position: int, kind: str, name: str
    ) -> None:
        """Hook for the replay tool: history ended where the code wants to go on."""

    # -- starting -----------------------------------------------------------------------------

    def _create(
        self,
        wdef: WorkflowDef,
        wid: str,
        inputs_json: str,
        conn: Connection,
        *,
        parent: tuple[str, int] | None = None,
    ) -> bool:
        return self.store.workflows.insert(
            conn,
            workflow_id=wid,
            name=wdef.name,
            inputs_json=inputs_json,
            version=self.version,
            status=Status.PENDING,
            executor_id=self.executor_id,
            parent_id=parent[0] if parent else None,
            parent_position=parent[1] if parent else None,
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

    def start(
        self,
        wdef: WorkflowDef,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        workflow_id: str | None = None,
    ) -> WorkflowHandle:
        """Durably create the workflow, then run it in the background."""
        ctx = maybe_current()
        if ctx is not None:
            return self.start_child(ctx, wdef, args, kwargs, workflow_id)
        self._refuse_if_draining()
        wid = workflow_id or str(uuid.uuid4())
        inputs_json = encode_inputs(wid, wdef.name, args, kwargs)
        created = self.store.db.run_write(
            lambda c: self._create(wdef, wid, inputs_json, c), single_statement=True
        )
        if created:
            self.submit(wdef, wid, args, kwargs, Fence(wid, self.executor_id, 0), [])
        else:
            self._check_existing(wdef, wid)
        return WorkflowHandle(self, wid)

    def submit(
        self,
        wdef: WorkflowDef,
        wid: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        fence: Fence,
        history: list[OperationRecord] | None,
    ) -> None:
        """Run a workflow this executor holds, in the background."""
        with self._lock:
            if wid in self._submitted:
                return
            self._submitted.add(wid)
        if wdef.is_async:
            coro = self._execute_async(wdef, wid, args, kwargs, fence, history)
            asyncio.run_coroutine_threadsafe(coro, self.loop())
        else:
            self._pool.submit(self._execute, wdef, wid, args, kwargs, fence, history)

    def call(self, wdef: WorkflowDef, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A direct call of a sync workflow: run durably, inline, and return its result."""
        ctx = maybe_current()
        if ctx is not None:
            return self.call_child(ctx, wdef, args, kwargs)
        self._refuse_if_draining()
        wid = str(uuid.uuid4())
        inputs_json = encode_inputs(wid, wdef.name, args, kwargs)
        started = now_ms()
        # Write-behind: the row is queued for the next group commit and the body starts at
        # once. Every later write of this workflow queues behind it (FIFO), so nothing is
        # reported done before the row is durable, and the first step waits for the row
        # before it runs (a crash mid-step leaves a row to recover). A workflow whose body
        # has no step commits its row and its result together.
        created = self.store.db.submit_write(
            lambda c: self._create(wdef, wid, inputs_json, c), single_statement=True, key=wid
        )
        with self._lock:
            self._submitted.add(wid)
        fence = Fence(wid, self.executor_id, 0)
        outcome = self._execute(
            wdef, wid, args, kwargs, fence, [], pending_row=(created, inputs_json, started)
        )
        created.wait()
        return self._deliver(wid, outcome)

    def call_async(
        self, wdef: WorkflowDef, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Coroutine[Any, Any, Any]:
        ctx = maybe_current()
        if ctx is not None:
            return self.call_child_async(ctx, wdef, args, kwargs)
        return self._call_async_top(wdef, args, kwargs)

    async def _call_async_top(
        self, wdef: WorkflowDef, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        self._refuse_if_draining()
        wid = str(uuid.uuid4())
        inputs_json = encode_inputs(wid, wdef.name, args, kwargs)
        db = self.store.db
        await self.in_io(
            lambda: db.run_write(
                lambda c: self._create(wdef, wid, inputs_json, c), single_statement=True, key=wid
            )
        )
        with self._lock:
            self._submitted.add(wid)
        fence = Fence(wid, self.executor_id, 0)
        coro = self._execute_async(wdef, wid, args, kwargs, fence, [])
        outcome = await asyncio.get_running_loop().create_task(coro, context=contextvars.Context())
        return self._deliver(wid, outcome)

    def _deliver(self, wid: str, outcome: _Outcome) -> Any:
        err = outcome.error
        if err is None:
            return outcome.value
        if isinstance(err, CancelledInterrupt):
            raise WorkflowCancelledError(f"workflow {wid!r} was cancelled")
        if isinstance(err, LeaseLostInterrupt):
            return WorkflowHandle(self, wid).result()
        raise err

    # -- execution ----------------------------------------------------------------------------

    def _context(
        self,
        wdef: WorkflowDef,
        wid: str,
        fence: Fence,
        history: list[OperationRecord] | None,
        pending_row: tuple[PendingWrite, str, int] | None = None,
    ) -> WorkflowContext:
        if history is None:
            history = self.store.operations.history(wid)
        ctx = WorkflowContext(
            engine=self,
            workflow_id=wid,
            name=wdef.name,
            version=self.version,
            fence=fence,
            history={op.position: op for op in history},
        )
        ctx.memo["is_async"] = wdef.is_async
        if pending_row is not None:
            ctx.pending_row, ctx.memo["inputs_json"], ctx.memo["started_at"] = pending_row
        with self._lock:
            self._running[wid] = ctx
            if self.draining:
                ctx.signal(DrainingInterrupt)
        return ctx

    def _execute(
        self,
        wdef: WorkflowDef,
        wid: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        fence: Fence,
        history: list[OperationRecord] | None,
        pending_row: tuple[PendingWrite, str, int] | None = None,
    ) -> _Outcome:
        outcome = _Outcome()
        ctx: WorkflowContext | None = None
        try:
            ctx = self._context(wdef, wid, fence, history, pending_row)
            token = _CURRENT.set(ctx)
            try:
                outcome.value = wdef.fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - every outcome is recorded
                outcome.error = exc
            finally:
                _CURRENT.reset(token)
            self._finish(ctx, outcome)
        except BaseException as exc:  # noqa: BLE001 - store failure while finishing
            outcome.error = outcome.error or exc
        finally:
            self._forget(wid)
        return outcome

    async def _execute_async(
        self,
        wdef: WorkflowDef,
        wid: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        fence: Fence,
        history: list[OperationRecord] | None,
    ) -> _Outcome:
        outcome = _Outcome()
        try:
            if history is None:
                history = await self.in_io(lambda: self.store.operations.history(wid))
            ctx = self._context(wdef, wid, fence, history)
            token = _CURRENT.set(ctx)
            try:
                outcome.value = await wdef.fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - every outcome is recorded
                outcome.error = exc
            finally:
                _CURRENT.reset(token)
            await self.in_io(lambda: self._finish(ctx, outcome))
        except BaseException as exc:  # noqa: BLE001
            outcome.error = outcome.error or exc
        finally:
            self._forget(wid)
        return outcome

    def _forget(self, wid: str) -> None:
        with self._lock:
            self._running.pop(wid, None)
            self._submitted.discard(wid)
        self.notify()
        for hook in self.finish_hooks:
            hook(wid)

    def _finish(self, ctx: WorkflowContext, outcome: _Outcome) -> None:
        """Record the workflow's end (fenced); interrupts record nothing."""
        if ctx.diverged is not None:
            outcome.error = ctx.diverged  # even if the workflow code caught it
        err = outcome.error
        if isinstance(err, (WorkflowInterrupt, asyncio.CancelledError)):
            return
        if err is None:
            try:
                where = f"workflow {ctx.workflow_id!r} ({ctx.name}) output"
                output_json = serialization.dumps(outcome.value, where)
                status, error_json = Status.SUCCESS, None
            except TetherError as exc:
                outcome.error = err = exc
        if err is not None:
            output_json = None
            status = Status.PARKED if isinstance(err, NondeterminismError) else Status.ERROR
            error_json = json.dumps(serialization.error_to_json(err))
        wf = self.store.workflows
        fence = ctx.fence
        row = ctx.pending_row
        if row is not None and row.withdraw():
            # The run ended before its row was taken by a commit (no step ran): write the
            # row already finished, one statement instead of an insert and an update.
            inputs_json = ctx.memo["inputs_json"]
            created = self.store.db.run_write(
                lambda conn: wf.insert_finished(
                    conn,
                    workflow_id=ctx.workflow_id,
                    name=ctx.name,
                    inputs_json=inputs_json,
                    version=self.version,
                    executor_id=fence.executor_id,
                    status=status,
                    output_json=output_json,
                    error_json=error_json,
                    started_at=ctx.memo["started_at"],
                ),
                single_statement=True,
                key=ctx.workflow_id,
            )
            row.settle(created)
            return
        self.store.db.run_write(
            lambda conn: wf.finish(
                conn,
                ctx.workflow_id,
                executor_id=fence.executor_id,
                epoch=fence.epoch,
                status=status,
                output_json=output_json,
                error_json=error_json,
            ),
            single_statement=True,
            key=ctx.workflow_id,
        )

    # -- recovery entry point (called by the executor loop) -----------------------------------

    def run_claimed(self, wid: str, epoch: int) -> None:
        rec = self.store.workflows.get(wid)
        if rec is None or rec.status != Status.PENDING:
            return
        fence = Fence(wid, self.executor_id, epoch)
        try:
            wdef = self.registry.workflow_def(rec.name)
        except ConfigurationError as exc:
            err = json.dumps(serialization.error_to_json(exc))
            wf = self.store.workflows
            self.store.db.run_write(
                lambda c: wf.finish(
                    c,
                    wid,
                    executor_id=self.executor_id,
                    epoch=epoch,
                    status=Status.ERROR,
                    error_json=err,
                ),
                single_statement=True,
                key=wid,
            )
            return
        args, kwargs = decode_inputs(rec.inputs)
        self.submit(wdef, wid, args, kwargs, fence, None)

    def close(self, wait: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)
        self._io.shutdown(wait=False, cancel_futures=True)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)


def _refuse_when_replaying(ctx: WorkflowContext, op: OperationRecord) -> None:
    if ctx.replaying_only:
        raise TetherError(
            f"replay of workflow {ctx.workflow_id!r} tried to record {op.describe()} at "
            f"position {op.position}; a replay never writes"
        )
