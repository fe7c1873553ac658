"""Recorded operations (checkpoints) at positions of a workflow's history.

A checkpoint is written with one fenced ``INSERT ... SELECT``: the SELECT reads the workflow
row only while this executor still holds it at the epoch it claimed (``FOR SHARE`` on
Postgres, so a concurrent claim waits for the commit; SQLite serializes writers anyway).
No row selected means the lease is gone and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, and_, literal, select
from sqlalchemy import insert as sa_insert

from ..clock import now_ms
from ..records import OperationRecord, Status
from .database import Database
from .schema import operations as O
from .schema import workflows as W

_OP_COLUMNS = [
    "app_name",
    "workflow_id",
    "position",
    "kind",
    "name",
    "output",
    "error",
    "child_id",
    "version",
    "executor_id",
    "attempts",
    "started_at",
    "completed_at",
]


class Fence:
    """Who may write a workflow's history: the holder at a lease epoch."""

    __slots__ = ("workflow_id", "executor_id", "epoch")

    def __init__(self, workflow_id: str, executor_id: str, epoch: int) -> None:
        self.workflow_id = workflow_id
        self.executor_id = executor_id
        self.epoch = epoch


class OperationStore:
    def __init__(self, db: Database, app_name: str) -> None:
        self.db = db
        self.app = app_name

    def history(self, workflow_id: str, conn: Connection | None = None) -> list[OperationRecord]:
        stmt = (
            select(
                O.c.position,
                O.c.kind,
                O.c.name,
                O.c.output,
                O.c.error,
                O.c.child_id,
                O.c.version,
                O.c.attempts,
                O.c.started_at,
                O.c.completed_at,
            )
            .where(O.c.app_name == self.app, O.c.workflow_id == workflow_id)
            .order_by(O.c.position)
        )
        if conn is None:
            with self.db.read() as c:
                rows = c.execute(stmt).all()
        else:
            rows = conn.execute(stmt).all()
        return [OperationRecord(*r) for r in rows]

    def record(
        self,
        conn: Connection,
        fence: Fence,
        op: OperationRecord,
        *,
        version: str,
        then: Callable[[Connection], Any] | None = None,
    ) -> bool:
        """Write ``op`` if ``fence`` still holds; run ``then`` in the same transaction."""
        values = [
            self.app,
            fence.workflow_id,
            op.position,
            op.kind,
            op.name,
            op.output,
            op.error,
            op.child_id,
            version,
            fence.executor_id,
            op.attempts,
            op.started_at,
            op.completed_at if op.completed_at is not None else now_ms(),
        ]
        sel = select(*[literal(v, O.c[c].type) for v, c in zip(values, _OP_COLUMNS, strict=True)])
        sel = sel.where(
            and_(
                W.c.app_name == self.app,
                W.c.workflow_id == fence.workflow_id,
                W.c.executor_id == fence.executor_id,
                W.c.lease_epoch == fence.epoch,
                W.c.status == Status.PENDING,
            )
        )
        if not self.db.is_sqlite:
            sel = sel.with_for_update(read=True, of=W)
        # RETURNING, not rowcount: drivers report -1 for INSERT ... SELECT.
        stmt = sa_insert(O).from_select(_OP_COLUMNS, sel).returning(O.c.position)
        if conn.execute(stmt).first() is None:
            return False
        if then is not None:
            then(conn)
        return True

    def count(self, workflow_id: str) -> int:
        return len(self.history(workflow_id))
