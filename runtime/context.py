"""The running workflow's context: positions, recorded history, fencing, interrupts.

Held in a ContextVar, so asyncio tasks spawned by a workflow share their parent's context
object and draw positions from one counter in *call* order: ``asyncio.gather`` of steps
replays deterministically. Operations reserve their position synchronously, before their
first ``await``.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from . import history
from .clock import now_ms
from .errors import (
    CancelledInterrupt,
    ConfigurationError,
    NondeterminismError,
    NotInWorkflowError,
    SuspendedInterrupt,
    WorkflowInterrupt,
)
from .history import Gate
from .records import OperationRecord
from .store import Fence
from .suspension import Wait, should_suspend
from .waiting import Signal, pause, pause_async

if TYPE_CHECKING:
    from .children import Spawner
    from .observe import RunObservation
    from .recorder import Effect, Recorder
    from .store.commit import PendingWrite

T = TypeVar("T")


@dataclass(frozen=True)
class PendingRow:
    """A direct call's workflow row, queued behind the body (see Engine.call)."""

    write: PendingWrite
    inputs_json: str
    started_at: int
    trace_context: str | None = None


@dataclass(eq=False)
class WorkflowContext:
    recorder: Recorder
    workflow_id: str
    name: str
    version: str
    fence: Fence
    history: dict[int, OperationRecord]
    is_async: bool = False
    # Starts and runs child workflows; None in a replay, which only reads their outcomes.
    spawner: Spawner | None = None
    next_position: int = 0
    # Set when the run must stop at its next boundary (cancel, drain, a lost lease, or a
    # replay's frontier); waits wake on ``wakeup``.
    interrupt_kind: type[WorkflowInterrupt] | None = None
    wakeup: Signal = field(default_factory=Signal)  # notified on interrupt
    trace: list[tuple[int, str, str]] = field(default_factory=list)  # (position, kind, name)
    diverged: NondeterminismError | None = None
    pending_row: PendingRow | None = None
    # Patch gates the code evaluated (see versioning.patches): what each returned, which
    # path its history is on, and the gates in order for divergence reports.
    patch_returns: dict[str, bool] = field(default_factory=dict)
    patch_paths: dict[str, tuple[int, bool | None]] = field(default_factory=dict)
    gates: list[Gate] = field(default_factory=list)
    # Positions reserved by awaitables that have not finished yet (async operations, maybe in
    # sibling tasks): code whose position must not depend on scheduling checks it is empty.
    in_flight: set[int] = field(default_factory=set)
    # The observer's view of this run (None: nothing observes it; see runtime.observe).
    observed: RunObservation | None = None

    def take_pending_row(self) -> PendingWrite | None:
        """The queued row write to wait for before user code with side effects first runs."""
        if self.pending_row is None:
            return None
        row, self.pending_row = self.pending_row, None
        return row.write

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
        try:
            history.check_match(self, position, self.history.get(position), kind, name)
        except NondeterminismError as exc:
            # Remembered: workflow code that swallows the error (``except Exception``) must
            # not go on writing at shifted positions; the run ends PARKED regardless.
            self.diverged = exc
            raise
        return self.recorder.lookup(self, position, kind, name)

    def signal(self, kind: type[WorkflowInterrupt]) -> None:
        if self.interrupt_kind is None or kind is CancelledInterrupt:
            self.interrupt_kind = kind
        self.wakeup.notify()
        self.recorder.notify()

    def _interrupted(self) -> bool:
        return self.interrupt_kind is not None

    def check_interrupt(self) -> None:
        """Called at every step boundary: stop here if cancelled, draining or fenced out."""
        if self.interrupt_kind is not None:
            raise self.interrupt_kind(self.workflow_id)

    # -- waiting: the one place a running workflow waits ------------------------------------

    def wait(
        self,
        until_ms: int,
        poll: float,
        signal: Signal | None = None,
        durable: Wait | None = None,
    ) -> None:
        """Wait until ``until_ms``, for at most ``poll`` seconds, or until ``signal`` (default:
        only an interrupt) fires; then stop here if interrupted. A ``durable`` wait that has
        lasted its grace suspends the workflow instead (raising ``SuspendedInterrupt``), or
        returns at once when its condition turned out to hold."""
        if durable is not None and self._suspends(durable):
            if self.recorder.suspend(self, durable):
                raise SuspendedInterrupt(self.workflow_id)
            return
        pause(signal or self.wakeup, until_ms, self._poll(poll, durable), self._interrupted)
        self.check_interrupt()

    async def wait_async(
        self,
        until_ms: int,
        poll: float,
        signal: Signal | None = None,
        durable: Wait | None = None,
    ) -> None:
        if durable is not None and self._suspends(durable):
            wait = durable
            if await self.recorder.in_io(lambda: self.recorder.suspend(self, wait)):
                raise SuspendedInterrupt(self.workflow_id)
            return
        poll = self._poll(poll, durable)
        await pause_async(signal or self.wakeup, until_ms, poll, self._interrupted)
        self.check_interrupt()

    def _suspends(self, wait: Wait) -> bool:
        return should_suspend(
            waited=wait.waited(),
            grace=self.recorder.suspend_after,
            left_ms=None if wait.until_ms is None else wait.until_ms - now_ms(),
            others_in_flight=bool(self.in_flight - {wait.position}),
            interrupted=self.interrupt_kind is not None,
        )

    def _poll(self, poll: float, wait: Wait | None) -> float:
        """``poll``, shortened so that a durable wait looks again when its grace ends."""
        if wait is None:
            return poll
        left = wait.grace_left(self.recorder.suspend_after)
        return min(poll, left) if left > 0 else poll

    def backoff(self, seconds: float) -> None:
        """A retry's backoff: interruptible by cancel and drain like any wait."""
        until = now_ms() + int(seconds * 1000)
        while now_ms() < until:
            self.wait(until, seconds)

    async def backoff_async(self, seconds: float) -> None:
        until = now_ms() + int(seconds * 1000)
        while now_ms() < until:
            await self.wait_async(until, seconds)

    # -- recording --------------------------------------------------------------------------

    def record(self, op: OperationRecord, then: Effect | None = None) -> None:
        if self.diverged is not None:
            raise self.diverged
        self.recorder.record(self, op, then)

    def record_behind(self, op: OperationRecord) -> None:
        """Queue ``op`` for the next group commit without waiting (see Recorder)."""
        if self.diverged is not None:
            raise self.diverged
        self.recorder.record_behind(self, op)

    async def arecord(self, op: OperationRecord, then: Effect | None = None) -> None:
        if self.diverged is not None:
            raise self.diverged
        await self.recorder.in_io(lambda: self.recorder.record(self, op, then))


def sync_only(ctx: WorkflowContext, name: str) -> None:
    """Refuse a blocking operation on an async workflow's event loop."""
    if ctx.is_async:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        raise ConfigurationError(
            f"tether.{name}() blocks; in an async workflow use `await tether.{name}_async(...)`"
        )


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
