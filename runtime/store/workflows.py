"""Workflow status rows: create (idempotently), read, list, complete, cancel, resume.

Every write that a running workflow makes is fenced: it names the executor and lease epoch
it holds, and matches no row once another executor has claimed the workflow.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from .. import serialization
from ..clock import now_ms
from ..records import Status, WorkflowRecord
from .commit import note_ended
from .database import Database, Prepared
from .schema import workflows as W

_COLUMNS = [
    W.c.workflow_id,
    W.c.name,
    W.c.status,
    W.c.version,
    W.c.executor_id,
    W.c.lease_epoch,
    W.c.inputs,
    W.c.output,
    W.c.error,
    W.c.parent_id,
    W.c.queue_name,
    W.c.recovery_attempts,
    W.c.created_at,
    W.c.updated_at,
    W.c.started_at,
    W.c.completed_at,
    W.c.forked_from,
    W.c.forked_from_position,
    W.c.wait_kind,
    W.c.wait_topic,
    W.c.wait_target,
    W.c.wake_at,
    W.c.trace_context,
]


def to_record(row: Any) -> WorkflowRecord:
    return WorkflowRecord(
        workflow_id=row.workflow_id,
        name=row.name,
        status=row.status,
        version=row.version,
        executor_id=row.executor_id,
        lease_epoch=row.lease_epoch,
        inputs=serialization.loads(row.inputs),
        output=serialization.loads(row.output),
        error=serialization.loads(row.error),
        parent_id=row.parent_id,
        queue_name=row.queue_name,
        recovery_attempts=row.recovery_attempts,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        forked_from=row.forked_from,
        forked_from_position=row.forked_from_position,
        trace_context=row.trace_context,
        **_wait(row),
    )


def _wait(row: Any) -> dict[str, Any]:
    """What a suspended workflow waits on (nothing once it is not suspended)."""
    if row.status != Status.SUSPENDED:
        return {}
    return {
        "wait_kind": row.wait_kind,
        "wait_on": row.wait_target or row.wait_topic,
        "wake_at": row.wake_at,
    }


def held_by(executor_id: Any, epoch: Any) -> Any:
    """The fencing predicate: held by ``executor_id`` (None: released) at ``epoch``, PENDING.

    Used next to the primary key columns. The holder and status columns are wrapped in
    COALESCE on purpose, so that the primary key is the only index these single-row checks
    can use: with young statistics Postgres otherwise picks any index on a tie and scans
    many rows on every checkpoint.
    """
    if not isinstance(executor_id, ColumnElement):
        executor_id = executor_id or ""
    return and_(
        func.coalesce(W.c.executor_id, literal_column("''")) == executor_id,
        func.coalesce(W.c.status, literal_column("''")) == literal_column(f"'{Status.PENDING}'"),
        W.c.lease_epoch == epoch,
    )


def open_or_cancelled_at(statuses: Any, stamp: int) -> Any:
    """Rows in ``statuses``, or cancelled at ``stamp``: by this very call, when its commit was
    acknowledged to no one and it was repeated (so the repeat reports what it cancelled)."""
    return or_(
        W.c.status.in_(statuses),
        and_(W.c.status == Status.CANCELLED, W.c.completed_at == stamp),
    )


_INSERT_FIELDS = [
    "app_name",
    "workflow_id",
    "name",
    "status",
    "version",
    "executor_id",
    "lease_epoch",
    "inputs",
    "parent_id",
    "parent_position",
    "queue_name",
    "priority",
    "recovery_attempts",
    "created_at",
    "updated_at",
    "started_at",
    "trace_context",
]


class WorkflowStore:
    def __init__(self, db: Database, app_name: str) -> None:
        self.db = db
        self.app = app_name
        self._insert = (sqlite.insert if db.is_sqlite else postgresql.insert)(W)
        self._insert_plain = Prepared(
            self._insert.values({f: bindparam(f, type_=W.c[f].type) for f in _INSERT_FIELDS})
            .on_conflict_do_nothing(index_elements=["app_name", "workflow_id"])
            .returning(W.c.workflow_id),
            db.engine,
        )
        self._insert_finished = Prepared(
            self._insert.values(
                {
                    f: bindparam(f, type_=W.c[f].type)
                    for f in [*_INSERT_FIELDS, "output", "error", "completed_at"]
                }
            )
            .on_conflict_do_nothing(index_elements=["app_name", "workflow_id"])
            .returning(W.c.workflow_id),
            db.engine,
        )
        self._finish = Prepared(
            update(W)
            .where(
                W.c.app_name == bindparam("w_app"),
                W.c.workflow_id == bindparam("w_id"),
                held_by(bindparam("w_exec"), bindparam("w_epoch")),
            )
            .values(
                status=bindparam("status"),
                output=bindparam("output"),
                error=bindparam("error"),
                updated_at=bindparam("now"),
                completed_at=bindparam("completed_at"),
            ),
            db.engine,
        )

    def _pk(self, workflow_id: str) -> Any:
        return and_(W.c.app_name == self.app, W.c.workflow_id == workflow_id)

    # -- creation ---------------------------------------------------------------------------

    def _row(
        self,
        *,
        workflow_id: str,
        name: str,
        inputs_json: str,
        version: str,
        status: str,
        executor_id: str | None,
        created_at: int,
        parent: tuple[str | None, int | None] = (None, None),
        queue_name: str | None = None,
        trace_context: str | None = None,
    ) -> dict[str, Any]:
        """Values of a new row (every column the prepared inserts bind)."""
        return {
            "app_name": self.app,
            "workflow_id": workflow_id,
            "name": name,
            "status": status,
            "version": version,
            "executor_id": executor_id,
            "lease_epoch": 0,
            "inputs": inputs_json,
            "parent_id": parent[0],
            "parent_position": parent[1],
            "queue_name": queue_name,
            "priority": 0,
            "recovery_attempts": 0,
            "created_at": created_at,
            "updated_at": now_ms(),
            "started_at": created_at if status == Status.PENDING else None,
            "trace_context": trace_context,
        }

    def insert(
        self,
        conn: Connection,
        *,
        workflow_id: str,
        name: str,
        inputs_json: str,
        version: str,
        status: str,
        executor_id: str | None,
        parent_id: str | None = None,
        parent_position: int | None = None,
        queue_name: str | None = None,
        extra: dict[str, Any] | None = None,
        trace_context: str | None = None,
    ) -> bool:
        """Insert the row unless the id exists; True when this call created it
        (``trace_context``: the starter's W3C traceparent, see runtime.observe)."""
        values = self._row(
            workflow_id=workflow_id,
            name=name,
            inputs_json=inputs_json,
            version=version,
            status=status,
            executor_id=executor_id,
            created_at=now_ms(),
            parent=(parent_id, parent_position),
            queue_name=queue_name,
            trace_context=trace_context,
        )
        if not extra:
            return self._insert_plain.execute(conn, values).first() is not None
        values.update(extra)
        stmt = (
            self._insert.values(**values)
            .on_conflict_do_nothing(index_elements=["app_name", "workflow_id"])
            .returning(W.c.workflow_id)
        )
        # RETURNING, not rowcount: some drivers report -1 for INSERTs.
        return conn.execute(stmt).first() is not None

    def insert_finished(
        self,
        conn: Connection,
        *,
        workflow_id: str,
        name: str,
        inputs_json: str,
        version: str,
        executor_id: str,
        status: str,
        output_json: str | None,
        error_json: str | None,
        started_at: int,
        trace_context: str | None = None,
    ) -> bool:
        """Create a workflow row already finished: one statement for a run with no step.

        No ``note_ended``: nothing can be suspended on a row that did not exist (a wait on a
        missing workflow counts as ended and never suspends; see ``store.waits``)."""
        values = self._row(
            workflow_id=workflow_id,
            name=name,
            inputs_json=inputs_json,
            version=version,
            status=status,
            executor_id=executor_id,
            created_at=started_at,
            trace_context=trace_context,
        )
        values.update(
            started_at=started_at, output=output_json, error=error_json, completed_at=now_ms()
        )
        return self._insert_finished.execute(conn, values).first() is not None

    # -- reads -------------------------------------------------------------------------------

    def get(self, workflow_id: str, *, conn: Connection | None = None) -> WorkflowRecord | None:
        stmt = select(*_COLUMNS).where(self._pk(workflow_id))
        row = self.db.reading(lambda c: c.execute(stmt).first(), conn=conn)
        return to_record(row) if row else None

    def get_raw(self, conn: Connection, workflow_id: str) -> Any:
        return conn.execute(
            select(W.c.status, W.c.name, W.c.executor_id, W.c.lease_epoch, W.c.version).where(
                self._pk(workflow_id)
            )
        ).first()

    def statuses(
        self, workflow_ids: Sequence[str], *, conn: Connection | None = None
    ) -> dict[str, str]:
        if not workflow_ids:
            return {}
        stmt = select(W.c.workflow_id, W.c.status).where(
            W.c.app_name == self.app, W.c.workflow_id.in_(list(workflow_ids))
        )
        rows = self.db.reading(lambda c: c.execute(stmt).all(), conn=conn)
        return {r.workflow_id: r.status for r in rows}

    def list(
        self,
        *,
        status: str | Sequence[str] | None = None,
        version: str | None = None,
        name: str | None = None,
        parent_id: str | None = None,
        id_prefix: str | None = None,
        queue_name: str | None = None,
        forked_from: str | None = None,
        created: tuple[int | None, int | None] = (None, None),
        completed: tuple[int | None, int | None] = (None, None),
        limit: int = 100,
        offset: int = 0,
        newest_first: bool = True,
        conn: Connection | None = None,
    ) -> list[WorkflowRecord]:
        """Workflows matching every filter given; ``created`` and ``completed`` are
        (from, to) windows in epoch ms, either end open (None), from inclusive, to exclusive."""
        stmt = select(*_COLUMNS).where(W.c.app_name == self.app)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            stmt = stmt.where(W.c.status.in_(statuses))
        for column, value in (
            (W.c.version, version),
            (W.c.name, name),
            (W.c.parent_id, parent_id),
            (W.c.queue_name, queue_name),
            (W.c.forked_from, forked_from),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if id_prefix:
            stmt = stmt.where(W.c.workflow_id.startswith(id_prefix, autoescape=True))
        for column, (lo, hi) in ((W.c.created_at, created), (W.c.completed_at, completed)):
            if lo is not None:
                stmt = stmt.where(column >= lo)
            if hi is not None:
                stmt = stmt.where(column < hi)
        order = W.c.created_at.desc() if newest_first else W.c.created_at.asc()
        tiebreak = W.c.workflow_id.desc() if newest_first else W.c.workflow_id.asc()
        stmt = stmt.order_by(order, tiebreak).limit(limit).offset(offset)
        return self.db.reading(lambda c: [to_record(r) for r in c.execute(stmt)], conn=conn)

    def children(self, conn: Connection, workflow_ids: Sequence[str]) -> builtins.list[str]:
        rows = conn.execute(
            select(W.c.workflow_id).where(
                W.c.app_name == self.app, W.c.parent_id.in_(list(workflow_ids))
            )
        ).all()
        return [r.workflow_id for r in rows]

    def open_counts(self, *, conn: Connection | None = None) -> builtins.list[tuple[str, str, int]]:
        """(version, status, count) for every non-terminal workflow."""
        stmt = (
            select(W.c.version, W.c.status, func.count())
            .where(
                W.c.app_name == self.app,
                W.c.status.in_(sorted(Status.OPEN)),
            )
            .group_by(W.c.version, W.c.status)
        )
        rows = self.db.reading(lambda c: c.execute(stmt).all(), conn=conn)
        return [(r[0], r[1], int(r[2])) for r in rows]

    # -- fenced completion -------------------------------------------------------------------

    def finish(
        self,
        conn: Connection,
        workflow_id: str,
        *,
        executor_id: str,
        epoch: int,
        status: str,
        output_json: str | None = None,
        error_json: str | None = None,
    ) -> bool:
        now = now_ms()
        if status != Status.PENDING:
            # Also when the fence refuses it: a repeat of a write whose commit was not known
            # finds the row ended already, and waking its waiters again is harmless.
            note_ended(conn, [workflow_id])
        res = self._finish.execute(
            conn,
            {
                "w_app": self.app,
                "w_id": workflow_id,
                "w_exec": executor_id,
                "w_epoch": epoch,
                "status": status,
                "output": output_json,
                "error": error_json,
                "now": now,
                "completed_at": now if status in Status.TERMINAL else None,
            },
        )
        return bool(res.rowcount == 1)

    # -- administrative transitions -----------------------------------------------------------

    def cancel_tree(
        self, workflow_id: str, *, conn: Connection | None = None
    ) -> builtins.list[str]:
        """Cancel a workflow and its open descendants; returns the ids that changed."""
        stamp = now_ms()  # one completion time for every attempt (see open_or_cancelled_at)

        def write(conn: Connection) -> builtins.list[str]:
            changed: list[str] = []
            frontier = [workflow_id]
            seen: set[str] = set()
            while frontier:
                seen.update(frontier)
                res = conn.execute(
                    update(W)
                    .where(
                        W.c.app_name == self.app,
                        W.c.workflow_id.in_(frontier),
                        open_or_cancelled_at(sorted(Status.OPEN), stamp),
                    )
                    .values(status=Status.CANCELLED, updated_at=stamp, completed_at=stamp)
                    .returning(W.c.workflow_id)
                )
                changed.extend(r.workflow_id for r in res)
                frontier = [c for c in self.children(conn, frontier) if c not in seen]
            note_ended(conn, changed)
            return changed

        return self.db.writing(write, conn=conn, what="cancel a workflow")

    def resume_tree(
        self, workflow_id: str, *, conn: Connection | None = None
    ) -> builtins.list[str]:
        """Reopen a workflow (and descendants cancelled with it) for any capable executor.

        A workflow that came through a queue goes back to its queue (ENQUEUED, keeping its
        priority and place), so resuming never bypasses the queue's limits. Repeatable: a
        reopened row is no longer resumable, so a repeat changes nothing it already changed.
        """
        resumable = sorted(Status.RESUMABLE)

        def write(conn: Connection) -> builtins.list[str]:
            changed: list[str] = []
            frontier = [workflow_id]
            first = True
            seen: set[str] = set()
            while frontier:
                seen.update(frontier)
                statuses = resumable if first else [Status.CANCELLED]
                res = conn.execute(
                    update(W)
                    .where(
                        W.c.app_name == self.app,
                        W.c.workflow_id.in_(frontier),
                        W.c.status.in_(statuses),
                    )
                    .values(
                        status=case(
                            (W.c.queue_name.is_not(None), Status.ENQUEUED), else_=Status.PENDING
                        ),
                        executor_id=None,
                        lease_epoch=W.c.lease_epoch + 1,
                        recovery_attempts=0,
                        error=None,
                        output=None,
                        completed_at=None,
                        # A timeout starts over: now, or for a queued one at its dequeue.
                        deadline_at=case(
                            (W.c.queue_name.is_(None), now_ms() + W.c.timeout_ms), else_=None
                        ),
                        updated_at=now_ms(),
                    )
                    .returning(W.c.workflow_id)
                )
                changed.extend(r.workflow_id for r in res)
                first = False
                frontier = [c for c in self.children(conn, frontier) if c not in seen]
            return changed

        return self.db.writing(write, conn=conn, what="resume a workflow")

    def mark(self, conn: Connection, workflow_id: str, *, status: str, error_json: str) -> None:
        """End a workflow administratively (RECOVERY_EXHAUSTED), whoever holds it."""
        note_ended(conn, [workflow_id])
        conn.execute(
            update(W)
            .where(self._pk(workflow_id))
            .values(status=status, error=error_json, updated_at=now_ms(), completed_at=now_ms())
        )

    def release_all(self, executor_id: str, *, conn: Connection | None = None) -> int:
        """Drop this executor's leases so peers can claim its open workflows at once."""
        stmt = (
            update(W)
            .where(
                W.c.app_name == self.app,
                W.c.executor_id == executor_id,
                W.c.status == Status.PENDING,
            )
            .values(executor_id=None, lease_epoch=W.c.lease_epoch + 1, updated_at=now_ms())
        )
        return int(self.db.writing(lambda c: c.execute(stmt).rowcount, conn=conn))

    def retake(self, conn: Connection, workflow_id: str, executor_id: str, epoch: int) -> bool:
        """The holder re-takes its own lease (epoch + 1): no claim a peer prepared against
        the old epoch can succeed after this (see runtime.selfcheck)."""
        res = conn.execute(
            update(W)
            .where(self._pk(workflow_id), held_by(executor_id, epoch))
            .values(lease_epoch=W.c.lease_epoch + 1, updated_at=now_ms())
        )
        return res.rowcount == 1

    def release(self, conn: Connection, workflow_id: str, executor_id: str, epoch: int) -> bool:
        res = conn.execute(
            update(W)
            .where(self._pk(workflow_id), held_by(executor_id, epoch))
            .values(executor_id=None, lease_epoch=W.c.lease_epoch + 1, updated_at=now_ms())
        )
        return res.rowcount == 1
