"""Deleting finished workflows and everything recorded for them, in bounded batches.

A workflow may go only when it is finished (SUCCESS, ERROR, CANCELLED, RECOVERY_EXHAUSTED;
never an open or PARKED one), finished before the cutoff, its parent (if any) is finished
too (a running parent may still read its result), and no open or parked fork was copied from
it. The conditions are checked inside the DELETE itself, so a workflow resumed or forked
while a batch runs is never deleted. Each batch is one transaction: its workflows and every
row kept for them (``deletion.OWNED``: operations, messages and send keys addressed to them,
events, streams, moves).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, delete, exists, func, select
from sqlalchemy.orm import aliased

from ..records import Status
from .commit import note_ended
from .database import Database
from .deletion import OWNED
from .schema import workflows as W

FINISHED = tuple(sorted(Status.TERMINAL))
NOT_FINISHED = tuple(sorted(Status.OPEN))  # may run again: PARKED included


class RetentionStore:
    def __init__(self, db: Database, app_name: str) -> None:
        self.db = db
        self.app = app_name

    def budget_cutoff(self, keep: int, *, conn: Connection | None = None) -> int | None:
        """The completion time of the ``keep``-th newest finished workflow: everything that
        finished before it is beyond the row budget (None: fewer than ``keep`` finished)."""
        stmt = (
            select(W.c.completed_at)
            .where(W.c.app_name == self.app, W.c.completed_at.is_not(None))
            .where(W.c.status.in_(FINISHED))
            .order_by(W.c.completed_at.desc())
            .offset(max(0, keep - 1))
            .limit(1)
        )
        value = self.db.reading(lambda c: c.execute(stmt).scalar(), conn=conn)
        return None if value is None else int(value)

    def _eligible(self, cutoff: int) -> Select[tuple[str]]:
        # Aliases throughout: the candidates must not correlate to a table being deleted from.
        w = aliased(W)
        return (
            select(w.c.workflow_id)
            .where(*_keepable(w, self.app, cutoff))
            .order_by(w.c.completed_at)
        )

    def count(self, cutoff: int, *, conn: Connection | None = None) -> int:
        """How many workflows a collection with ``cutoff`` would delete now."""
        stmt = select(func.count()).select_from(self._eligible(cutoff).order_by(None).subquery())
        return int(self.db.reading(lambda c: c.execute(stmt).scalar(), conn=conn) or 0)

    def delete_batch(
        self, cutoff: int, limit: int, *, conn: Connection | None = None
    ) -> tuple[list[str], int]:
        """Delete up to ``limit`` eligible workflows (oldest first) and what was recorded for
        them; returns their ids and how many rows went with them.

        The candidates are read first and deleted by primary key, with every condition
        checked again inside the DELETE (a workflow resumed or forked meanwhile stays).
        A repeat (the connection broke) counts an earlier attempt's batch when it is gone:
        that attempt committed, though no one heard.
        """
        earlier: list[tuple[list[str], int]] = []

        def write(conn: Connection) -> tuple[list[str], int]:
            if earlier and earlier[-1][0]:
                ids, rows = earlier[-1]
                left = select(W.c.workflow_id).where(
                    W.c.app_name == self.app, W.c.workflow_id.in_(ids)
                )
                if conn.execute(left.limit(1)).first() is None:
                    return ids, rows
            earlier.append(self._delete_batch(conn, cutoff, limit))
            return earlier[-1]

        return self.db.writing(write, conn=conn, what="delete finished workflows")

    def _delete_batch(self, conn: Connection, cutoff: int, limit: int) -> tuple[list[str], int]:
        chosen = [r[0] for r in conn.execute(self._eligible(cutoff).limit(limit))]
        if not chosen:
            return [], 0
        gone = (
            delete(W)
            .where(W.c.workflow_id.in_(chosen), *_keepable(W, self.app, cutoff, by_key=True))
            .returning(W.c.workflow_id)
        )
        ids = [r[0] for r in conn.execute(gone)]
        note_ended(conn, ids)  # ended long ago; said anyway, as every deletion does
        rows = 0
        if ids:
            for table, column in OWNED:  # the same rows deleting one workflow removes
                result = conn.execute(
                    delete(table).where(
                        and_(table.c.app_name == self.app, table.c[column].in_(ids))
                    )
                )
                rows += max(0, result.rowcount or 0)
        return ids, rows


def _keepable(w: Any, app: str, cutoff: int, *, by_key: bool = False) -> list[ColumnElement[bool]]:
    """The conditions for ``w`` (the table or an alias) to be deleted. ``by_key``: the rows
    are named by primary key, and the cutoff is written so that no index on completion time
    looks cheaper to SQLite than the key (it would range-scan every eligible row per batch)."""
    parent, fork = aliased(W), aliased(W)
    finished_before = (
        func.coalesce(w.c.completed_at, cutoff) < cutoff if by_key else w.c.completed_at < cutoff
    )
    return [
        w.c.app_name == app,
        finished_before,
        w.c.status.in_(FINISHED),
        ~exists().where(
            parent.c.app_name == w.c.app_name,
            parent.c.workflow_id == w.c.parent_id,
            parent.c.status.in_(NOT_FINISHED),
        ),
        ~exists().where(
            fork.c.forked_from == w.c.workflow_id,
            fork.c.app_name == w.c.app_name,
            fork.c.status.in_(NOT_FINISHED),
        ),
    ]
