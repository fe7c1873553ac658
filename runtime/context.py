"""The running workflow's context: positions, recorded history, fencing, interrupts.

Held in a ContextVar, so asyncio tasks spawned by a workflow share their parent's context
object and draw positions from one counter in *call* order: ``asyncio.gather`` of steps
replays deterministically. Operations reserve their position synchronously, before their
first ``await``.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from . import history
from .errors import (
    CancelledInterrupt,
    NondeterminismError,
    NotInWorkflowError,
    WorkflowInterrupt,
)
from .records import OperationRecord
from .store import Fence

if TYPE_CHECKING:
    from .engine import Engine

T = TypeVar("T")


@dataclass(eq=False)
class WorkflowContext:
    engine: Engine
    workflow_id: str
    name: str
    version: str
    fence: Fence
    history: dict[int, OperationRecord]
    next_position: int = 0
    replaying_only: bool = False  # replay tool: answer from history, never execute or write
    interrupt: threading.Event = field(default_factory=threading.Event)
    interrupt_kind: type[WorkflowInterrupt] | None = None
    memo: dict[str, Any] = field(default_factory=dict)
    trace: list[tuple[int, str, str]] = field(default_factory=list)  # (position, kind, name)
    diverged: NondeterminismError | None = None
    pending_row: Any = None  # the workflow row's queued insert (direct calls), see engine.call

    def before_side_effect(self) -> None:
        """Make the workflow's row durable before user code with side effects first runs."""
        if self.pending_row is not None:
            row, self.pending_row = self.pending_row, None
            row.wait()

    # Positions reserved by awaitables that have not finished yet (async operations, maybe in
    # sibling tasks): code whose position must not depend on scheduling checks it is empty.
    in_flight: set[int] = field(default_factory=set)

    def reserve(self) -> int:
        pos = self.next_position
        self.next_position += 1
        return pos

    def track(self, position: int, awaitable: Awaitable[T]) -> Awaitable[T]:
        """``awaitable``, with ``position`` counted in flight until it finishes."""
        self.in_flight.add(position)
        return self._tracked(position, awaitable)

    async def _tracked(self, position: int, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        finally:
            self.in_flight.discard(position)

    def peek(self) -> OperationRecord | None:
        """The record at the next position, without consuming it."""
        return self.history.get(self.next_position)

    def replay_or_none(self, position: int, kind: str, name: str) -> OperationRecord | None:
        """The recorded operation if it matches; None when nothing is recorded there."""
        self.trace.append((position, kind, name))
        if self.diverged is not None:
            raise self.diverged
        recorded = self.history.get(position)
        try:
            history.check_match(self, position, recorded, kind, name)
        except NondeterminismError as exc:
            # Remembered: workflow code that swallows the error (``except Exception``) must
            # not go on writing at shifted positions; the run ends PARKED regardless.
            self.diverged = exc
            raise
        if recorded is None and self.replaying_only:
            self.engine.on_replay_exhausted(self, position, kind, name)
        return recorded

    def signal(self, kind: type[WorkflowInterrupt]) -> None:
        if self.interrupt_kind is None or kind is CancelledInterrupt:
            self.interrupt_kind = kind
        self.interrupt.set()
        self.engine.notify()

    def check_interrupt(self) -> None:
        """Called at every step boundary: stop here if cancelled, draining or fenced out."""
        if self.interrupt.is_set() and self.interrupt_kind is not None:
            raise self.interrupt_kind(self.workflow_id)

    def record(self, op: OperationRecord, then: Callable[[Any], Any] | None = None) -> None:
        if self.diverged is not None:
            raise self.diverged
        self.engine.record(self, op, then)

    def record_behind(self, op: OperationRecord) -> None:
        """Queue ``op`` for the next group commit without waiting (see Engine.record_behind)."""
        if self.diverged is not None:
            raise self.diverged
        self.engine.record_behind(self, op)

    async def arecord(self, op: OperationRecord, then: Callable[[Any], Any] | None = None) -> None:
        if self.diverged is not None:
            raise self.diverged
        await self.engine.arecord(self, op, then)


_CURRENT: contextvars.ContextVar[WorkflowContext | None] = contextvars.ContextVar(
    "tether_workflow", default=None
)
_IN_STEP: contextvars.ContextVar[bool] = contextvars.ContextVar("tether_in_step", default=False)


def current(what: str = "this call") -> WorkflowContext:
    """The running workflow's context, or a clear error outside a workflow."""
    ctx = _CURRENT.get()
    if ctx is None or _IN_STEP.get():
        where = "inside a step" if ctx is not None else "outside a workflow"
        raise NotInWorkflowError(
            f"{what} must be called from workflow code (it was called {where}); "
            "decorate the calling function with @app.workflow()"
        )
    return ctx


def maybe_current() -> WorkflowContext | None:
    """The running workflow's context, or None (also None inside a step)."""
    if _IN_STEP.get():
        return None
    return _CURRENT.get()
