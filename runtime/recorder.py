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
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import Connection

from . import serialization
from .errors import CancelledInterrupt, LeaseLostInterrupt, TetherError, WorkflowInterrupt
from .records import OperationRecord, Status, WorkflowRecord
from .waiting import Signal, StoreWaiter, Waiter

if TYPE_CHECKING:
    from .context import WorkflowContext
    from .store import Store

T = TypeVar("T")
RECV = "recv"
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

    async def in_io(self, fn: Callable[[], T]) -> T:
        """Run blocking ``fn`` (store I/O) off the event loop."""
        ...


class LiveRecorder:
    """Records to the store, fenced by the run's lease."""

    def __init__(self, store: Store, version: str, poll_interval: float) -> None:
        self.store = store
        self.version = version
        self.signal = Signal()  # notified when a local workflow ends or a message lands
        self.waiter = StoreWaiter(store, poll_interval, self.signal)
        self.io = ThreadPoolExecutor(16, thread_name_prefix="tether-io")

    def lookup(
        self, ctx: WorkflowContext, position: int, kind: str, name: str
    ) -> OperationRecord | None:
        return ctx.history.get(position)

    def _fenced(
        self, ctx: WorkflowContext, write: Callable[[Connection], bool], single: bool
    ) -> None:
        """Run a fenced write; when the fence refused it, say why the run must stop."""
        if self.store.db.run_write(write, single_statement=single, key=ctx.workflow_id):
            return
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
            row = messages.peek_oldest(conn, ctx.workflow_id, topic)
            if row is None:
                return True  # someone else consumed it; nothing written
            got.append(row.payload)
            op = OperationRecord(position, RECV, topic, output=row.payload, started_at=started_at)
            return self._op(ctx, op, lambda c, _: messages.delete(c, row.id))(conn)

        self._fenced(ctx, write, single=False)
        return (True, serialization.loads(got[0])) if got else (False, None)

    def finish(
        self,
        ctx: WorkflowContext,
        status: str,
        output_json: str | None,
        error_json: str | None,
    ) -> None:
        """Record the run's end (a fenced update: a lost lease writes nothing)."""
        wf, fence = self.store.workflows, ctx.fence
        self.store.db.run_write(
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

    def notify(self) -> None:
        self.signal.notify()

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

    async def in_io(self, fn: Callable[[], T]) -> T:
        return fn()  # nothing blocks: every answer comes from memory
