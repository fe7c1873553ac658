"""What workflow code records through: look up a position, record an operation, wait.

Workflow operations (steps, sleeps, messages, events, children, patch markers) never touch
the engine or the store: they ask the context's :class:`Recorder`. The live recorder writes
through the commit lanes, every write fenced by the run's lease (the fence is checked in
:meth:`LiveRecorder._fenced`, and only there). The replay recorder answers from a recorded
history and stops the run where the history ends; it has no store, so it cannot write.
A run resumed from its history is the live recorder answering positions from the history
until the code reaches one that was never recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import Connection

from . import serialization
from .errors import (
    CancelledInterrupt,
    DatabaseUnavailableError,
    LeaseLostInterrupt,
    StoreUnavailableInterrupt,
    TetherError,
    WorkflowInterrupt,
)
from .records import OperationRecord, Status, WorkflowRecord
from .selfcheck import LeaseClock, Verdict
from .store.operations import Fence
from .waiting import Mailboxes, Signal, StoreWaiter, Waiter

if TYPE_CHECKING:
    from .context import WorkflowContext
    from .store import Store
    from .suspension import Wait

T = TypeVar("T")
RECV = "recv"
# How often a recv waiting in memory looks for its message while wake-ups from other
# processes are live (see remote_wakes): a safety net only, so a thousand held waiters do
# not query the database thousands of times a second.
WOKEN_POLL = 10.0
# What an operation does in the transaction that records it (send a message, create a
# child's row): run by the live recorder only.
Effect = Callable[[Connection, "Store"], Any]


class Recorder(Protocol):
    @property
    def version(self) -> str:
        """The code version recording (written beside every operation)."""
        ...

    @property
    def waiter(self) -> Waiter:
        """How this run reads and waits on other workflows."""
        ...

    def lookup(
        self, ctx: WorkflowContext, position: int, kind: str, name: str
    ) -> OperationRecord | None:
        """The operation recorded at ``position`` (already matched against kind and name),
        or None when nothing is: the caller executes and records it."""
        ...

    def record(self, ctx: WorkflowContext, op: OperationRecord, then: Effect | None) -> None:
        """Durably record ``op`` (and run ``then`` in the same transaction), fenced."""
        ...

    def record_behind(self, ctx: WorkflowContext, op: OperationRecord) -> None:
        """Queue ``op`` for the next commit without waiting (harmless to lose)."""
        ...

    def consume(
        self, ctx: WorkflowContext, position: int, topic: str, started_at: int | None = None
    ) -> tuple[bool, Any]:
        """Take the oldest message on ``topic`` and record it at ``position``, atomically
        (``started_at``: when the receive began waiting)."""
        ...

    def notify(self) -> None:
        """Something changed that waiters elsewhere in this process may care about."""
        ...

    def event_set(self, workflow_id: str, key: str) -> None:
        """After ``workflow_id`` committed event ``key``: wake who waits for it."""
        ...

    @property
    def recv_poll(self) -> float:
        """Seconds a recv waiting in memory sleeps before it looks again unprompted."""
        ...

    @property
    def suspend_after(self) -> float | None:
        """Seconds a durable wait waits in memory before it suspends (None: never)."""
        ...

    def suspend(self, ctx: WorkflowContext, wait: Wait) -> bool:
        """Record ``wait`` on the workflow's row and give up its lease (True), or False when
        the wait's condition already holds (look again). Raises when the run was fenced."""
        ...

    def lease_ok(self, ctx: WorkflowContext) -> bool:
        """True when the run certainly still holds its lease (no I/O; see selfcheck)."""
        ...

    def addressed(
        self, ctx: WorkflowContext, topic: str | None = None
    ) -> AbstractContextManager[None]:
        """While open, a message sent to this run's workflow (on ``topic``; None: any)
        wakes its ``ctx.wakeup``, from this process or another (see ``remote_wakes``)."""
        ...

    def watching_event(
        self, ctx: WorkflowContext, workflow_id: str, key: str
    ) -> AbstractContextManager[None]:
        """While open, event ``key`` of ``workflow_id`` being set wakes ``ctx.wakeup``."""
        ...

    def notify_addressee(self, workflow_id: str, topic: str | None = None) -> None:
        """A message to ``workflow_id`` committed: wake its waiters here (only theirs)."""
        ...

    def revalidate(self, ctx: WorkflowContext) -> None:
        """Heartbeat and re-take the lease, or raise LeaseLostInterrupt (blocking I/O)."""
        ...

    async def in_io(self, fn: Callable[[], T]) -> T:
        """Run blocking ``fn`` (store I/O) off the event loop."""
        ...


class LiveRecorder:
    """Records to the store, fenced by the run's lease."""

    def __init__(
        self,
        store: Store,
        version: str,
        poll_interval: float,
        suspend_after: float | None = None,
        clock: LeaseClock | None = None,
    ) -> None:
        self.store = store
        self.version = version
        self.suspend_after = suspend_after
        # True while messages sent by other processes wake waiters here (set by dispatch).
        self.remote_live: Callable[[], bool] = lambda: False
        self.clock = clock if clock is not None else LeaseClock(float("inf"))
        self.signal = Signal()  # notified when a local workflow ends or a message lands
        self.mailboxes = Mailboxes()  # recv waiters, by workflow id and topic
        self.events = Mailboxes()  # get_event waiters, by the workflow that sets it and key
        self.waiter = StoreWaiter(store, poll_interval, self.signal, self.events)
        self.io = ThreadPoolExecutor(16, thread_name_prefix="tether-io")
        # Called after a message or event was committed here: it may have woken a suspended
        # workflow that this process can claim now (see store.waits).
        self.wake_hooks: list[Callable[[], None]] = []
        # Called with the deadline of a wait suspended here, so a timer wakes it on time.
        self.due_hooks: list[Callable[[int], None]] = []
        # Called with the id of a workflow woken elsewhere and released for any executor.
        self.woken_hooks: list[Callable[[str], None]] = []

    def lookup(
        self, ctx: WorkflowContext, position: int, kind: str, name: str
    ) -> OperationRecord | None:
        return ctx.history.get(position)

    @property
    def recv_poll(self) -> float:
        poll = self.waiter.poll_interval
        return max(poll, WOKEN_POLL) if self.remote_live() else poll

    def _fenced(
        self, ctx: WorkflowContext, write: Callable[[Connection], bool], single: bool
    ) -> None:
        """Run a fenced write; when the fence refused it, say why the run must stop."""
        try:
            if self.store.db.run_write(write, single_statement=single, key=ctx.workflow_id):
                return
            self._refused(ctx)
        except DatabaseUnavailableError as exc:
            raise StoreUnavailableInterrupt(ctx.workflow_id) from exc

    def _refused(self, ctx: WorkflowContext) -> None:
        """The fence refused a write of this run: raise why it must stop."""
        rec = self.store.workflows.get(ctx.workflow_id)
        if rec is not None and rec.status == Status.CANCELLED:
            raise CancelledInterrupt(ctx.workflow_id)
        raise LeaseLostInterrupt(ctx.workflow_id)

    def _op(
        self, ctx: WorkflowContext, op: OperationRecord, then: Effect | None
    ) -> Callable[[Connection], bool]:
        store, fence, version = self.store, ctx.fence, self.version
        effect = None if then is None else (lambda conn: then(conn, store))
        return lambda conn: store.operations.record(conn, fence, op, version=version, then=effect)

    def record(self, ctx: WorkflowContext, op: OperationRecord, then: Effect | None) -> None:
        self._fenced(ctx, self._op(ctx, op, then), single=then is None)

    def record_behind(self, ctx: WorkflowContext, op: OperationRecord) -> None:
        # FIFO per workflow: it lands before any later write of this run, and a fenced-out
        # write is noticed by the next one.
        self.store.db.submit_write(
            self._op(ctx, op, None), single_statement=True, key=ctx.workflow_id
        )

    def consume(
        self, ctx: WorkflowContext, position: int, topic: str, started_at: int | None = None
    ) -> tuple[bool, Any]:
        messages = self.store.messages
        if not messages.has_message(ctx.workflow_id, topic):
            return False, None
        got: list[str] = []

        def write(conn: Connection) -> bool:
            got.clear()
            mine = self.store.operations.recorded_by(conn, ctx.fence, position)
            if mine is not None:  # a repeat: the message was taken by the first attempt
                got.append(mine[0])
                return True
            row = messages.peek_oldest(conn, ctx.workflow_id, topic)
            if row is None:
                return True  # someone else consumed it; nothing written
            got.append(row.payload)
            op = OperationRecord(position, RECV, topic, output=row.payload, started_at=started_at)
            return self._op(ctx, op, lambda c, _: messages.delete(c, row.id))(conn)

        self._fenced(ctx, write, single=False)
        return (True, serialization.loads(got[0])) if got else (False, None)

    def lease_ok(self, ctx: WorkflowContext) -> bool:
        return self.clock.verdict(ctx.fence.held_since) is Verdict.OK

    def addressed(
        self, ctx: WorkflowContext, topic: str | None = None
    ) -> AbstractContextManager[None]:
        return self.mailboxes.listening(ctx.workflow_id, ctx.wakeup, topic)

    def watching_event(
        self, ctx: WorkflowContext, workflow_id: str, key: str
    ) -> AbstractContextManager[None]:
        return self.events.listening(workflow_id, ctx.wakeup, key)

    def notify_addressee(self, workflow_id: str, topic: str | None = None) -> None:
        self.mailboxes.notify(workflow_id, topic)
        for hook in self.wake_hooks:  # the message may have woken it from suspension
            hook()

    def revalidate(self, ctx: WorkflowContext) -> None:
        fence = ctx.fence
        try:
            if self.clock.beat is not None:
                self.clock.beat()
            wf = self.store.workflows
            retaken = self.store.db.run_write(
                lambda conn: wf.retake(conn, fence.workflow_id, fence.executor_id, fence.epoch),
                single_statement=True,
                key=fence.workflow_id,
            )
            if not retaken:
                self._refused(ctx)
        except DatabaseUnavailableError as exc:
            raise StoreUnavailableInterrupt(ctx.workflow_id) from exc
        # Known held from now: any heartbeat gap noticed so far is behind this point.
        ctx.fence = Fence(fence.workflow_id, fence.executor_id, fence.epoch + 1, time.monotonic())

    def finish(
        self,
        fence: Fence,
        status: str,
        output_json: str | None = None,
        error_json: str | None = None,
    ) -> bool:
        """Record the run's end (a fenced update: a lost lease writes nothing).

        Every fenced end of a workflow goes through here (a run's end, and a claimed
        workflow that cannot start); False when the fence refused it.
        """
        wf = self.store.workflows
        done = self.store.db.run_write(
            lambda conn: wf.finish(
                conn,
                fence.workflow_id,
                executor_id=fence.executor_id,
                epoch=fence.epoch,
                status=status,
                output_json=output_json,
                error_json=error_json,
            ),
            single_statement=True,
            key=fence.workflow_id,
        )
        return done  # a parent suspended on it was woken at the commit (store.note_ended)

    def notify(self) -> None:
        self.signal.notify()
        for hook in self.wake_hooks:
            hook()

    def event_set(self, workflow_id: str, key: str) -> None:
        self.store.waits.wake_event_waiters(workflow_id, key)  # suspended in get_event
        self.events.notify(workflow_id, key)  # only who waits for this event
        for hook in self.wake_hooks:
            hook()

    def suspend(self, ctx: WorkflowContext, wait: Wait) -> bool:
        from .store.waits import Suspend

        waits, fence = self.store.waits, ctx.fence
        try:
            got = self.store.db.run_write(
                lambda conn: waits.suspend(
                    conn,
                    fence,
                    kind=wait.kind,
                    until_ms=wait.until_ms,
                    topic=wait.topic,
                    target=wait.target,
                ),
                key=ctx.workflow_id,
            )
            if got is Suspend.SUSPENDED and wait.target is not None:
                # What it waits for may have happened just now (see store.waits).
                waits.wake_if_ready(ctx.workflow_id, wait.kind, wait.target, wait.topic)
        except DatabaseUnavailableError as exc:
            raise StoreUnavailableInterrupt(ctx.workflow_id) from exc
        if got is Suspend.FENCED:
            self._refused(ctx)
        if got is Suspend.SUSPENDED and wait.until_ms is not None:
            for hook in self.due_hooks:
                hook(wait.until_ms)
        return got is Suspend.SUSPENDED

    async def in_io(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.io, fn)

    def close(self) -> None:
        self.io.shutdown(wait=False, cancel_futures=True)


class ReplayStop(WorkflowInterrupt):
    """The replay reached the frontier: history answers nothing further from here."""

    def __init__(
        self, workflow_id: str, position: int | None = None, reason: str | None = None
    ) -> None:
        super().__init__(workflow_id)
        self.position = position
        self.reason = reason


class ReplayWaiter:
    """Child workflow records as a replay sees them: finished ones answer, open ones stop it."""

    poll_interval = 0.0

    def __init__(self, parent: str, children: Mapping[str, WorkflowRecord]) -> None:
        self.parent = parent
        self.children = children
        self.signal = Signal()

    def workflow(self, workflow_id: str) -> WorkflowRecord | None:
        rec = self.children.get(workflow_id)
        if rec is None:
            raise TetherError(
                f"the outcome of child workflow {workflow_id!r} of {self.parent!r} is not in "
                "the history (export the parent again to include it)"
            )
        if rec.status in Status.RUNNABLE:
            raise ReplayStop(self.parent, reason=f"waits for child workflow {workflow_id!r}")
        return rec

    def event(self, workflow_id: str, key: str) -> str | None:
        raise ReplayStop(self.parent, reason=f"waits for event {key!r} of {workflow_id!r}")

    def watching(self, workflow_id: str, key: str) -> AbstractContextManager[Signal]:
        return nullcontext(self.signal)


class ReplayRecorder:
    """Answers from history only; where it ends, the run stops (see ``ReplayStop``)."""

    def __init__(self, version: str, waiter: ReplayWaiter) -> None:
        self.version = version
        self.waiter = waiter

    def lookup(
        self, ctx: WorkflowContext, position: int, kind: str, name: str
    ) -> OperationRecord | None:
        recorded = ctx.history.get(position)
        if recorded is None:
            raise ReplayStop(ctx.workflow_id, position, f"the code asks for {kind} {name!r} next")
        return recorded

    def _refuse(self, ctx: WorkflowContext, op: OperationRecord) -> None:
        raise TetherError(
            f"replay of workflow {ctx.workflow_id!r} tried to record {op.describe()} at "
            f"position {op.position}; a replay never writes"
        )

    def record(self, ctx: WorkflowContext, op: OperationRecord, then: Effect | None) -> None:
        self._refuse(ctx, op)

    def record_behind(self, ctx: WorkflowContext, op: OperationRecord) -> None:
        self._refuse(ctx, op)

    def consume(
        self, ctx: WorkflowContext, position: int, topic: str, started_at: int | None = None
    ) -> tuple[bool, Any]:
        raise ReplayStop(ctx.workflow_id, position, f"the code waits for a message on {topic!r}")

    def notify(self) -> None:
        pass

    def event_set(self, workflow_id: str, key: str) -> None:
        pass

    suspend_after = 0.0  # a replay never waits: a wait not answered by history stops it
    recv_poll = 0.0

    def suspend(self, ctx: WorkflowContext, wait: Wait) -> bool:
        raise ReplayStop(ctx.workflow_id, wait.position, f"the code waits ({wait.kind})")

    def lease_ok(self, ctx: WorkflowContext) -> bool:
        return True  # a replay holds nothing and writes nothing

    def addressed(
        self, ctx: WorkflowContext, topic: str | None = None
    ) -> AbstractContextManager[None]:
        return nullcontext()

    def watching_event(
        self, ctx: WorkflowContext, workflow_id: str, key: str
    ) -> AbstractContextManager[None]:
        return nullcontext()

    def notify_addressee(self, workflow_id: str, topic: str | None = None) -> None:
        pass

    def revalidate(self, ctx: WorkflowContext) -> None:
        pass

    async def in_io(self, fn: Callable[[], T]) -> T:
        return fn()  # nothing blocks: every answer comes from memory
