"""Suspended workflows' wake conditions: suspend (fenced), wake on a message or a due time.

A suspended row is SUSPENDED, held by nobody, with its wait on the row. Waking it turns it
back into work the existing claim paths take: PENDING and released (any executor's recovery
claims it, bumping the epoch), or ENQUEUED when it came through a queue, so that it takes a
slot again under the queue's limits, ahead of newer work (it keeps its place).

A message and a suspension racing each other are ordered by the database: the suspending
transaction takes the workflow's wait lock before it looks for a message, and ``send`` takes
the same lock before it looks for a suspended recv. Whichever locks second sees the other's
commit, so the message is either found by the run or wakes the suspended row; never lost.
On Postgres the wait lock is a transaction-scoped advisory lock (a sender already holds a
share lock on its own row, so locking rows here could deadlock two workflows messaging each
other); SQLite serializes writers anyway.

A wait for another workflow (its end, or an event it sets) is ordered without a lock, since
every workflow's end would otherwise pay for one: the waiter commits its suspension, then
looks again (``wake_if_ready``); the other commits its end or event, then looks for waiters
(``wake_waiters_of``, ``wake_event_waiters``). Each looks after its own commit, so at least
one of them sees the other. Ends are many (a run's end, cancel, a timeout, recovery
exhausted, deletion): each write that ends a workflow notes it in its transaction
(``commit.note_ended``) and the database calls ``wake_waiters_of`` after that commit, so no
path can forget the wake. ``wake_stranded`` is the backstop when that call fails.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum
from typing import Any

from sqlalchemy import Connection, and_, case, func, select, update

from ..clock import now_ms
from ..records import Status
from .database import Database
from .operations import Fence
from .queues import CHANNEL
from .schema import events as E
from .schema import messages as M
from .schema import workflows as W
from .workflows import held_by

RECV, CHILD, EVENT = "recv", "child", "event"
_LOCK_CLASS = 0x7E7E_0006  # advisory lock class of wait locks (second key: the workflow)
_CHUNK = 500  # ended workflows looked up per statement


class Suspend(Enum):
    SUSPENDED = "suspended"  # the row now holds the wait; the run stops
    READY = "ready"  # the condition already holds: the run goes on
    FENCED = "fenced"  # this run no longer holds the workflow


class WaitStore:
    def __init__(self, db: Database, app_name: str) -> None:
        self.db = db
        self.app = app_name
        # Called after workflows were woken because what they waited for ended (an executor
        # on SQLite claims them at once; Postgres executors hear the NOTIFY instead).
        self.woken_hooks: list[Callable[[], None]] = []

    def _pk(self, workflow_id: str) -> Any:
        return and_(W.c.app_name == self.app, W.c.workflow_id == workflow_id)

    def _wait_lock(self, conn: Connection, workflow_id: str) -> None:
        if not self.db.is_sqlite:  # SQLite holds its writer lock from BEGIN
            key = func.hashtext(f"{self.app}:{workflow_id}")
            conn.execute(select(func.pg_advisory_xact_lock(_LOCK_CLASS, key)))

    def suspend(
        self,
        conn: Connection,
        fence: Fence,
        *,
        kind: str,
        until_ms: int | None,
        topic: str | None,
        target: str | None = None,
    ) -> Suspend:
        wid = fence.workflow_id
        self._wait_lock(conn, wid)
        if until_ms is not None and until_ms <= now_ms():
            return Suspend.READY
        if kind == RECV and self._has_message(conn, wid, topic or ""):
            return Suspend.READY
        if kind == CHILD and target is not None and self._finished(conn, target):
            return Suspend.READY
        if kind == EVENT and target is not None and self._has_event(conn, target, topic or ""):
            return Suspend.READY
        res = conn.execute(
            update(W)
            .where(self._pk(wid), held_by(fence.executor_id, fence.epoch))
            .values(
                status=Status.SUSPENDED,
                executor_id=None,
                lease_epoch=W.c.lease_epoch + 1,
                wait_kind=kind,
                wait_topic=topic,
                wait_target=target,
                wake_at=until_ms,
                # Reaching a durable wait is progress: resumes are not failed recoveries.
                recovery_attempts=0,
                updated_at=now_ms(),
            )
        )
        if res.rowcount != 1:
            # A repeat of this very write whose commit was not known (a broken connection)
            # finds the row suspended one epoch on: that is this run's suspension.
            again = conn.execute(
                select(W.c.workflow_id).where(
                    self._pk(wid),
                    W.c.status == Status.SUSPENDED,
                    W.c.executor_id.is_(None),
                    W.c.lease_epoch == fence.epoch + 1,
                )
            ).first()
            return Suspend.FENCED if again is None else Suspend.SUSPENDED
        return Suspend.SUSPENDED

    def _has_message(self, conn: Connection, dest_id: str, topic: str) -> bool:
        return (
            conn.execute(
                select(M.c.id)
                .where(M.c.app_name == self.app, M.c.dest_id == dest_id, M.c.topic == topic)
                .limit(1)
            ).first()
            is not None
        )

    def _has_event(self, conn: Connection, workflow_id: str, key: str) -> bool:
        stmt = select(E.c.key).where(
            E.c.app_name == self.app, E.c.workflow_id == workflow_id, E.c.key == key
        )
        return conn.execute(stmt).first() is not None

    def _finished(self, conn: Connection, workflow_id: str) -> bool:
        row = conn.execute(select(W.c.status).where(self._pk(workflow_id))).first()
        return row is None or row.status not in Status.RUNNABLE

    # -- waking ------------------------------------------------------------------------------

    def wake_if_ready(self, workflow_id: str, kind: str, target: str, topic: str | None) -> bool:
        """After ``workflow_id`` suspended waiting for another workflow: wake it if that one
        ended (``CHILD``) or set the event (``EVENT``) meanwhile (see the module doc)."""
        if kind == CHILD:
            ready = self.db.reading(lambda conn: self._finished(conn, target))
        else:
            ready = self.db.reading(lambda conn: self._has_event(conn, target, topic or ""))
        if not ready:
            return False
        where = and_(self._pk(workflow_id), W.c.wait_kind == kind, W.c.wait_target == target)
        return bool(self.db.writing(lambda conn: self._wake(conn, where)))  # repeat-safe

    def wake_event_waiters(self, workflow_id: str, key: str) -> int:
        """After ``workflow_id`` set event ``key``: wake the workflows suspended for it."""
        waiting = and_(
            W.c.status == Status.SUSPENDED,
            W.c.wait_target == workflow_id,
            W.c.app_name == self.app,
        )
        if not self._anyone(waiting):
            return 0
        where = and_(waiting, W.c.wait_kind == EVENT, W.c.wait_topic == key)
        return len(self.db.writing(lambda conn: self._wake(conn, where)))  # repeat-safe

    def wake_waiters_of(self, workflow_ids: list[str]) -> int:
        """After ``workflow_ids`` ended: wake the workflows suspended waiting for them.

        The store calls it after every commit that ends workflows (``Database.on_ended``),
        whichever path ended them; nothing else needs to.
        """
        woken = 0
        for i in range(0, len(workflow_ids), _CHUNK):
            woken += self._wake_waiters_of(workflow_ids[i : i + _CHUNK])
        if woken:
            for hook in self.woken_hooks:
                hook()
        return woken

    def wake_stranded(self) -> int:
        """Wake workflows suspended on a child that can no longer run (ended or gone).

        The backstop of ``wake_waiters_of``: a wake that failed after its end committed
        (the database went away in between) would leave the parent asleep for good. An
        executor runs this now and then (see ``Executor.audit``).
        """
        child = W.alias("awaited")
        runnable = (
            select(child.c.workflow_id)
            .where(
                child.c.app_name == W.c.app_name,
                child.c.workflow_id == W.c.wait_target,
                child.c.status.in_(sorted(Status.RUNNABLE)),
            )
            .exists()
        )
        where = and_(W.c.app_name == self.app, W.c.wait_kind == CHILD, ~runnable)
        woken = len(self.db.writing(lambda conn: self._wake(conn, where)))  # repeat-safe
        if woken:
            for hook in self.woken_hooks:
                hook()
        return woken

    def _wake_waiters_of(self, workflow_ids: list[str]) -> int:
        waiting = and_(
            W.c.status == Status.SUSPENDED,
            W.c.wait_target.in_(workflow_ids),
            W.c.app_name == self.app,
        )
        if not self._anyone(waiting):
            return 0
        where = and_(waiting, W.c.wait_kind == CHILD)
        return len(self.db.writing(lambda conn: self._wake(conn, where)))  # repeat-safe

    def _anyone(self, waiting: Any) -> bool:
        # The common case: nobody waits, one index probe.
        probe = select(W.c.workflow_id).where(waiting).limit(1)
        return self.db.reading(lambda conn: conn.execute(probe).first() is not None)

    def wake_recv(self, conn: Connection, dest_id: str, topic: str) -> list[str]:
        """In the transaction that sends a message: wake ``dest_id`` if it is suspended in a
        recv on ``topic``. Returns the queues of the woken (``""``: not queued)."""
        self._wait_lock(conn, dest_id)
        return self._wake(
            conn, and_(self._pk(dest_id), W.c.wait_kind == RECV, W.c.wait_topic == topic)
        )

    def wake_due(self, conn: Connection, runnable: frozenset[str], limit: int = 1000) -> list[str]:
        """Wake suspended workflows of ``runnable`` versions whose deadline has passed."""
        due = (
            select(W.c.workflow_id)
            .where(
                W.c.status == Status.SUSPENDED,
                W.c.app_name == self.app,
                W.c.wake_at <= now_ms(),
                W.c.version.in_(sorted(runnable)),
            )
            .order_by(W.c.wake_at)
            .limit(limit)
        )
        if not self.db.is_sqlite:
            # Materialized, so the pick runs once (see QueueStore._claim_statement).
            picked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
            due = select(picked.c.workflow_id)
        return self._wake(conn, and_(W.c.app_name == self.app, W.c.workflow_id.in_(due)))

    def _wake(self, conn: Connection, where: Any) -> list[str]:
        res = conn.execute(
            update(W)
            .where(W.c.status == Status.SUSPENDED, where)
            .values(
                status=case((W.c.queue_name.is_not(None), Status.ENQUEUED), else_=Status.PENDING),
                updated_at=now_ms(),
            )
            .returning(W.c.workflow_id, W.c.queue_name)
        )
        rows = res.all()
        if rows and not self.db.is_sqlite:
            # Delivered at commit: executors claim a released one at once (its id in the
            # payload), dequeuers look at a queue that got one back.
            notes = {json.dumps([self.app, "", r.workflow_id]) for r in rows if not r.queue_name}
            notes |= {json.dumps([self.app, r.queue_name]) for r in rows if r.queue_name}
            for note in sorted(notes):
                conn.execute(select(func.pg_notify(CHANNEL, note)))
        return [r.queue_name or "" for r in rows]

    def take(
        self, conn: Connection, workflow_ids: list[str], me: str, runnable: frozenset[str]
    ) -> list[Any]:
        """Claim woken workflows released for any executor, in one fenced statement (each
        epoch bumps): the id, name, inputs and new epoch of each taken; one that another
        executor took first is left out."""
        return list(
            conn.execute(
                update(W)
                .where(
                    W.c.app_name == self.app,
                    W.c.workflow_id.in_(sorted(workflow_ids)),
                    held_by(None, W.c.lease_epoch),
                    W.c.version.in_(sorted(runnable)),
                )
                .values(
                    executor_id=me,
                    lease_epoch=W.c.lease_epoch + 1,
                    recovery_attempts=W.c.recovery_attempts + 1,
                    updated_at=now_ms(),
                )
                .returning(
                    W.c.workflow_id, W.c.name, W.c.inputs, W.c.lease_epoch, W.c.trace_context
                )
            )
        )

    def woken(self, runnable: frozenset[str], limit: int = 100) -> list[str]:
        """Workflows woken from suspension, released and not yet claimed again, of
        ``runnable`` versions (SQLite's stand-in for the NOTIFY of ``_wake``). Indexed by
        holder and status: the rows it scans are the released PENDING ones, a handful."""
        stmt = (
            select(W.c.workflow_id)
            .where(
                W.c.executor_id.is_(None),
                W.c.status == Status.PENDING,
                W.c.app_name == self.app,
                W.c.wait_kind.is_not(None),
                W.c.version.in_(sorted(runnable)),
            )
            .limit(limit)
        )
        return self.db.reading(lambda conn: list(conn.execute(stmt).scalars()))

    def next_due(self, runnable: frozenset[str]) -> int | None:
        """The earliest deadline of a suspended workflow of ``runnable`` versions."""
        stmt = select(func.min(W.c.wake_at)).where(
            W.c.status == Status.SUSPENDED,
            W.c.app_name == self.app,
            W.c.version.in_(sorted(runnable)),
        )
        due: int | None = self.db.reading(lambda conn: conn.execute(stmt).scalar())
        return due
