"""Recorded operations (checkpoints) at positions of a workflow's history.

A checkpoint is written with one fenced ``INSERT ... SELECT``: the SELECT reads the workflow
row only while this executor still holds it at the epoch it claimed (``FOR SHARE`` on
Postgres, so a concurrent claim waits for the commit; SQLite serializes writers anyway).
No row selected means the lease is gone and nothing is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, distinct, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..clock import now_ms
from ..records import OperationRecord, Status
from .database import Database, Prepared
from .schema import operations as O
from .schema import workflows as W
from .workflows import held_by

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
    """Who may write a workflow's history: the holder at a lease epoch.

    ``held_since`` (monotonic seconds) is when the holder knew it held the lease: the lease
    self-check (runtime.selfcheck) compares it with gaps in the holder's heartbeats.
    """

    __slots__ = ("workflow_id", "executor_id", "epoch", "held_since")

    def __init__(
        self, workflow_id: str, executor_id: str, epoch: int, held_since: float | None = None
    ) -> None:
        self.workflow_id = workflow_id
        self.executor_id = executor_id
        self.epoch = epoch
        self.held_since = time.monotonic() if held_since is None else held_since


class OperationStore:
    def __init__(self, db: Database, app_name: str) -> None:
        self.db = db
        self.app = app_name
        sel = select(*[bindparam(c, type_=O.c[c].type) for c in _OP_COLUMNS]).where(
            W.c.app_name == bindparam("app_name"),
            W.c.workflow_id == bindparam("workflow_id"),
            held_by(bindparam("executor_id"), bindparam("w_epoch")),
        )
        if not db.is_sqlite:
            sel = sel.with_for_update(read=True, of=W)
        # RETURNING, not rowcount: drivers report -1 for INSERT ... SELECT. A position
        # already recorded inserts nothing (a repeat of a write whose commit was unknown).
        dialect_insert = sqlite_insert if db.is_sqlite else pg_insert
        self._record = Prepared(
            dialect_insert(O)
            .from_select(_OP_COLUMNS, sel)
            .on_conflict_do_nothing()
            .returning(O.c.position),
            db.engine,
        )
        self._own = Prepared(
            select(O.c.output)
            .select_from(
                O.join(W, and_(W.c.app_name == O.c.app_name, W.c.workflow_id == O.c.workflow_id))
            )
            .where(
                O.c.app_name == bindparam("app_name"),
                O.c.workflow_id == bindparam("workflow_id"),
                O.c.position == bindparam("position"),
                O.c.executor_id == bindparam("executor_id"),
                held_by(bindparam("executor_id"), bindparam("w_epoch")),
            ),
            db.engine,
        )

    _HISTORY = (
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
        O.c.executor_id,
    )

    def history(self, workflow_id: str, *, conn: Connection | None = None) -> list[OperationRecord]:
        stmt = (
            select(*self._HISTORY)
            .where(O.c.app_name == self.app, O.c.workflow_id == workflow_id)
            .order_by(O.c.position)
        )
        rows = self.db.reading(lambda c: c.execute(stmt).all(), conn=conn)
        return [OperationRecord(**r._asdict()) for r in rows]

    def histories(
        self, workflow_ids: Sequence[str], *, conn: Connection | None = None
    ) -> dict[str, list[OperationRecord]]:
        """Recorded operations of many workflows in one query."""
        stmt = (
            select(O.c.workflow_id, *self._HISTORY)
            .where(O.c.app_name == self.app, O.c.workflow_id.in_(list(workflow_ids)))
            .order_by(O.c.workflow_id, O.c.position)
        )
        out: dict[str, list[OperationRecord]] = {}
        for row in self.db.reading(lambda c: c.execute(stmt).all(), conn=conn):
            out.setdefault(row[0], []).append(OperationRecord(*row[1:]))
        return out

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
        completed = op.completed_at if op.completed_at is not None else now_ms()
        row = self._record.execute(
            conn,
            {
                "app_name": self.app,
                "workflow_id": fence.workflow_id,
                "position": op.position,
                "kind": op.kind,
                "name": op.name,
                "output": op.output,
                "error": op.error,
                "child_id": op.child_id,
                "version": version,
                "executor_id": fence.executor_id,
                "attempts": op.attempts,
                # An operation with no duration of its own (an event, a send, a marker)
                # starts when it is recorded.
                "started_at": op.started_at if op.started_at is not None else completed,
                "completed_at": completed,
                "w_epoch": fence.epoch,
            },
        ).first()
        if row is None:
            # Fenced out, or this run's own write committed before its connection broke
            # and was repeated: then it is done (and its effect with it).
            return self.recorded_by(conn, fence, op.position) is not None
        if then is not None:
            then(conn)
        return True

    def set_error(self, conn: Connection, workflow_id: str, position: int, error: str) -> None:
        """Make the operation just recorded at ``position`` an error (its effect was refused),
        in the recording transaction."""
        conn.execute(
            update(O)
            .where(
                O.c.app_name == self.app,
                O.c.workflow_id == workflow_id,
                O.c.position == position,
            )
            .values(error=error, child_id=None)
        )

    def recorded_by(self, conn: Connection, fence: Fence, position: int) -> tuple[Any] | None:
        """The row at ``position`` if this holder (still holding) recorded it, else None."""
        row = self._own.execute(
            conn,
            {
                "app_name": self.app,
                "workflow_id": fence.workflow_id,
                "position": position,
                "executor_id": fence.executor_id,
                "w_epoch": fence.epoch,
            },
        ).first()
        return None if row is None else (row[0],)

    # -- by operation name (patch markers) ------------------------------------------------

    def _joined(self) -> Any:
        return O.join(W, and_(W.c.app_name == O.c.app_name, W.c.workflow_id == O.c.workflow_id))

    def named_counts(
        self, kind: str, *, conn: Connection | None = None
    ) -> dict[str, tuple[int, int]]:
        """Per name of ``kind`` operations: (workflows that recorded one, of which open)."""
        is_open = case((W.c.status.in_(sorted(Status.OPEN)), O.c.workflow_id))
        stmt = (
            select(O.c.name, func.count(distinct(O.c.workflow_id)), func.count(distinct(is_open)))
            .select_from(self._joined())
            .where(O.c.app_name == self.app, O.c.kind == kind)
            .group_by(O.c.name)
        )
        rows = self.db.reading(lambda c: c.execute(stmt).all(), conn=conn)
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def open_holders(
        self, kind: str, names: Sequence[str], *, conn: Connection | None = None
    ) -> dict[str, set[str]]:
        """Per name: the open workflows that recorded a ``kind`` operation of that name."""
        if not names:
            return {}
        stmt = (
            select(O.c.name, O.c.workflow_id)
            .select_from(self._joined())
            .where(
                O.c.app_name == self.app,
                O.c.kind == kind,
                O.c.name.in_(list(names)),
                W.c.status.in_(sorted(Status.OPEN)),
            )
        )
        out: dict[str, set[str]] = {}
        for name, wid in self.db.reading(lambda c: c.execute(stmt).all(), conn=conn):
            out.setdefault(name, set()).add(wid)
        return out
