"""Child workflows: started or called from a workflow, recorded at a position.

The parent records a ``child`` operation carrying the child's id in the same transaction
that creates the child's row, so replay reuses the same child instead of starting another.
A called child runs inline (same thread, or same event loop); a started one in the
background. This is a mixin of :class:`~tether.runtime.engine.Engine`.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from .context import _CURRENT, WorkflowContext
from .errors import ConfigurationError, WorkflowInterrupt
from .handles import WorkflowHandle
from .records import OperationRecord, Status
from .registry import WorkflowDef
from .serialization import decode_inputs, encode_inputs
from .store import Fence

if TYPE_CHECKING:
    from .engine import Engine

CHILD = "child"


class ChildWorkflows:
    """Child-workflow operations of the engine."""

    def _child_id(
        self: Engine, ctx: WorkflowContext, wdef: WorkflowDef, workflow_id: str | None
    ) -> tuple[int, str, bool]:
        """Reserve the child's position; returns (position, child id, already recorded)."""
        pos = ctx.reserve()
        rec = ctx.replay_or_none(pos, CHILD, wdef.name)
        if rec is not None:
            assert rec.child_id is not None
            return pos, rec.child_id, True
        ctx.check_interrupt()
        return pos, workflow_id or f"{ctx.workflow_id}-{pos}", False

    def _child_writer(
        self: Engine, ctx: WorkflowContext, wdef: WorkflowDef, pos: int, wid: str, inputs_json: str
    ) -> tuple[OperationRecord, Callable[[Connection], Any]]:
        op = OperationRecord(pos, CHILD, wdef.name, child_id=wid)

        def then(conn: Connection) -> None:
            self._create(wdef, wid, inputs_json, conn, parent=(ctx.workflow_id, pos))

        return op, then

    def start_child(
        self: Engine,
        ctx: WorkflowContext,
        wdef: WorkflowDef,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        workflow_id: str | None,
    ) -> WorkflowHandle:
        pos, wid, recorded = self._child_id(ctx, wdef, workflow_id)
        if not recorded:
            inputs_json = encode_inputs(wid, wdef.name, args, kwargs)
            op, then = self._child_writer(ctx, wdef, pos, wid, inputs_json)
            ctx.record(op, then)
            self._submit_if_mine(wdef, wid, args, kwargs)
        return WorkflowHandle(self, wid)

    def _submit_if_mine(
        self: Engine, wdef: WorkflowDef, wid: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> bool:
        rec = self.store.workflows.get(wid)
        if rec and rec.status == Status.PENDING and rec.executor_id == self.executor_id:
            self.submit(
                wdef, wid, args, kwargs, Fence(wid, self.executor_id, rec.lease_epoch), None
            )
            return True
        return False

    def call_child(
        self: Engine,
        ctx: WorkflowContext,
        wdef: WorkflowDef,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        if wdef.is_async:
            raise ConfigurationError(
                f"async workflow {wdef.name!r} called from a sync workflow: use "
                "app.start_workflow(...).result() instead"
            )
        pos, wid, recorded = self._child_id(ctx, wdef, None)
        if recorded:
            return self._await_child(ctx, wid)
        inputs_json = encode_inputs(wid, wdef.name, args, kwargs)
        op, then = self._child_writer(ctx, wdef, pos, wid, inputs_json)
        ctx.record(op, then)
        with self._lock:
            self._submitted.add(wid)
        token = _CURRENT.set(None)
        try:
            outcome = self._execute(wdef, wid, args, kwargs, Fence(wid, self.executor_id, 0), [])
        finally:
            _CURRENT.reset(token)
        if isinstance(outcome.error, WorkflowInterrupt):
            return self._await_child(ctx, wid)
        return self._deliver(wid, outcome)

    def _await_child(self: Engine, ctx: WorkflowContext, wid: str) -> Any:
        rec = self.store.workflows.get(wid)
        if rec is not None and rec.status == Status.PENDING and rec.executor_id == self.executor_id:
            wdef = self.registry.workflow_def(rec.name)
            self._submit_if_mine(wdef, wid, *decode_inputs(rec.inputs))
        return WorkflowHandle(self, wid).result(interrupt=ctx)

    def call_child_async(
        self: Engine,
        ctx: WorkflowContext,
        wdef: WorkflowDef,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Coroutine[Any, Any, Any]:
        try:
            pos, wid, recorded = self._child_id(ctx, wdef, None)
        except BaseException as exc:  # noqa: BLE001 - raised when awaited
            return _raise(exc)
        return ctx.track(pos, self._child_async(ctx, wdef, pos, wid, recorded, args, kwargs))

    async def _child_async(
        self: Engine,
        ctx: WorkflowContext,
        wdef: WorkflowDef,
        pos: int,
        wid: str,
        recorded: bool,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        if recorded:
            return await self.in_io(lambda: self._await_child(ctx, wid))
        inputs_json = encode_inputs(wid, wdef.name, args, kwargs)
        op, then = self._child_writer(ctx, wdef, pos, wid, inputs_json)
        await ctx.arecord(op, then)
        with self._lock:
            self._submitted.add(wid)
        fence = Fence(wid, self.executor_id, 0)
        if wdef.is_async:
            coro = self._execute_async(wdef, wid, args, kwargs, fence, [])
            task = asyncio.get_running_loop().create_task(coro, context=contextvars.Context())
            outcome = await task
        else:
            outcome = await self.in_io(
                lambda: contextvars.Context().run(self._execute, wdef, wid, args, kwargs, fence, [])
            )
        if isinstance(outcome.error, WorkflowInterrupt):
            return await self.in_io(lambda: self._await_child(ctx, wid))
        return self._deliver(wid, outcome)


async def _raise(exc: BaseException) -> Any:
    raise exc
