"""Child workflows: started or called from a workflow, recorded at a position.

The parent records a ``child`` operation carrying the child's id in the same transaction
that creates the child's row, so replay reuses the same child instead of starting another.
A called child runs inline (same thread, or same event loop); a started one in the
background. What needs a live engine (creating rows, running the child) is behind the small
:class:`Spawner` protocol; a replay has none, and only reads recorded children's outcomes.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from .clock import now_ms
from .context import WorkflowContext
from .errors import ConfigurationError, TetherError, WorkflowInterrupt
from .handles import WorkflowHandle, outcome_of
from .ids import check_workflow_id
from .recorder import Effect
from .records import OperationRecord
from .serialization import encode_inputs
from .suspension import CHILD as CHILD_WAIT
from .suspension import Wait

if TYPE_CHECKING:
    from .registry import WorkflowDef
    from .run import Outcome

CHILD = "child"
_FAR_MS = 10 * 365 * 24 * 3600 * 1000  # a child wait has no deadline of its own


class Spawner(Protocol):
    """The engine's side of child workflows."""

    def create_child(
        self, wdef: WorkflowDef, wid: str, inputs_json: str, parent: str, pos: int
    ) -> Effect:
        """The effect that creates the child's row, in the parent's recording transaction."""
        ...

    def adopt(self, wid: str) -> None:
        """Run the child in the background if this executor holds it and does not yet."""
        ...

    def run_inline(
        self, wdef: WorkflowDef, wid: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Outcome: ...

    async def run_inline_async(
        self, wdef: WorkflowDef, wid: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Outcome: ...

    def deliver(self, wid: str, outcome: Outcome) -> Any:
        """The child's value, or its error raised (as a direct call would)."""
        ...


def _spawner(ctx: WorkflowContext) -> Spawner:
    if ctx.spawner is None:
        raise TetherError(f"workflow {ctx.workflow_id!r} cannot start child workflows here")
    return ctx.spawner


def _child_id(
    ctx: WorkflowContext, wdef: WorkflowDef, workflow_id: str | None
) -> tuple[int, str, bool]:
    """Reserve the child's position; returns (position, child id, already recorded)."""
    if workflow_id is not None:
        check_workflow_id(workflow_id, "child workflow id")
    pos = ctx.reserve()
    rec = ctx.replay_or_none(pos, CHILD, wdef.name)
    if rec is not None:
        assert rec.child_id is not None
        return pos, rec.child_id, True
    ctx.check_interrupt()
    return pos, f"{ctx.workflow_id}-{pos}" if workflow_id is None else workflow_id, False


def _record(
    ctx: WorkflowContext, wdef: WorkflowDef, pos: int, wid: str, inputs_json: str
) -> tuple[OperationRecord, Effect]:
    op = OperationRecord(pos, CHILD, wdef.name, child_id=wid)
    return op, _spawner(ctx).create_child(wdef, wid, inputs_json, ctx.workflow_id, pos)


def start_child(
    ctx: WorkflowContext,
    wdef: WorkflowDef,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    workflow_id: str | None,
) -> WorkflowHandle:
    pos, wid, recorded = _child_id(ctx, wdef, workflow_id)
    if not recorded:
        inputs_json = encode_inputs(wid, wdef.name, args, kwargs)
        ctx.record(*_record(ctx, wdef, pos, wid, inputs_json))
        _spawner(ctx).adopt(wid)
    return WorkflowHandle(ctx.recorder.waiter, wid)


def _await_child(ctx: WorkflowContext, pos: int, wid: str) -> Any:
    """The child's outcome; a long wait suspends the parent (see runtime.suspension)."""
    if ctx.spawner is not None:
        ctx.spawner.adopt(wid)
    handle, waiter = WorkflowHandle(ctx.recorder.waiter, wid), ctx.recorder.waiter
    durable, poll = Wait(CHILD_WAIT, pos, None, target=wid), 0.005
    while True:
        if (rec := handle.finished()) is not None:
            return outcome_of(rec)
        ctx.check_interrupt()
        ctx.wait(now_ms() + _FAR_MS, poll, waiter.signal, durable)
        poll = min(poll * 2, waiter.poll_interval)


async def _await_child_async(ctx: WorkflowContext, pos: int, wid: str) -> Any:
    if ctx.spawner is not None:
        await ctx.recorder.in_io(lambda: ctx.spawner.adopt(wid) if ctx.spawner else None)
    handle, waiter = WorkflowHandle(ctx.recorder.waiter, wid), ctx.recorder.waiter
    durable, poll = Wait(CHILD_WAIT, pos, None, target=wid), 0.005
    while True:
        if (rec := await ctx.recorder.in_io(handle.finished)) is not None:
            return outcome_of(rec)
        ctx.check_interrupt()
        await ctx.wait_async(now_ms() + _FAR_MS, poll, waiter.signal, durable)
        poll = min(poll * 2, waiter.poll_interval)


def call_child(
    ctx: WorkflowContext, wdef: WorkflowDef, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if wdef.is_async:
        raise ConfigurationError(
            f"async workflow {wdef.name!r} called from a sync workflow: use "
            "app.start_workflow(...).result() instead"
        )
    pos, wid, recorded = _child_id(ctx, wdef, None)
    if recorded:
        return _await_child(ctx, pos, wid)
    inputs_json = encode_inputs(wid, wdef.name, args, kwargs)
    ctx.record(*_record(ctx, wdef, pos, wid, inputs_json))
    spawner = _spawner(ctx)
    outcome = spawner.run_inline(wdef, wid, args, kwargs)
    if isinstance(outcome.error, WorkflowInterrupt):
        return _await_child(ctx, pos, wid)
    return spawner.deliver(wid, outcome)


def call_child_async(
    ctx: WorkflowContext, wdef: WorkflowDef, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Coroutine[Any, Any, Any]:
    try:
        pos, wid, recorded = _child_id(ctx, wdef, None)
    except BaseException as exc:  # noqa: BLE001 - raised when awaited
        return _raise(exc)
    return ctx.track(pos, _child_async(ctx, wdef, pos, wid, recorded, args, kwargs))  # type: ignore[return-value]


async def _child_async(
    ctx: WorkflowContext,
    wdef: WorkflowDef,
    pos: int,
    wid: str,
    recorded: bool,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    if recorded:
        return await _await_child_async(ctx, pos, wid)
    inputs_json = encode_inputs(wid, wdef.name, args, kwargs)
    await ctx.arecord(*_record(ctx, wdef, pos, wid, inputs_json))
    spawner = _spawner(ctx)
    outcome = await spawner.run_inline_async(wdef, wid, args, kwargs)
    if isinstance(outcome.error, WorkflowInterrupt):
        return await _await_child_async(ctx, pos, wid)
    return spawner.deliver(wid, outcome)


async def _raise(exc: BaseException) -> Any:
    raise exc
