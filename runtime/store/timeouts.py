"""Workflow deadlines: the workflows whose deadline passed, and cancelling them (with their
descendants) in one transaction. Any executor may run this: a deadline is in the database,
so it fires whoever holds the workflow, and also when nobody does (its holder was killed)."""

from __future__ import annotations

import json

from sqlalchemy import Connection, and_, select, text, update

from .. import serialization
from ..clock import now_ms
from ..errors import WorkflowTimeoutError
from ..records import Status
from .commit import note_ended
from .database import Database
from .schema import DEADLINE_OPEN
from .schema import workflows as W
from .workflows import open_or_cancelled_at

_OPEN = sorted(Status.OPEN)


class TimeoutStore:
    def __init__(self, db: Database, app_name: str) -> None:
        self.db = db
        self.app = app_name

    def deadline_of(self, conn: Connection, workflow_id: str) -> int | None:
        """A workflow's deadline (what its children inherit)."""
        row = conn.execute(
            select(W.c.deadline_at).where(W.c.app_name == self.app, W.c.workflow_id == workflow_id)
        ).first()
        return None if row is None or row[0] is None else int(row[0])

    def due(self, now: int, limit: int = 100, *, conn: Connection | None = None) -> list[str]:
        """Open workflows whose deadline is at or before ``now`` (a read; uses the partial
        deadline index, whose predicate the query repeats)."""
        stmt = (
            select(W.c.workflow_id)
            .where(
                text(DEADLINE_OPEN),
                W.c.deadline_at <= now,
                W.c.app_name == self.app,
            )
            .limit(limit)
        )
        rows = self.db.reading(lambda c: c.execute(stmt).all(), conn=conn)
        return [r[0] for r in rows]

    def expire(self, workflow_id: str, now: int, *, conn: Connection | None = None) -> list[str]:
        """Cancel ``workflow_id`` (if its deadline passed and it is open) and its open
        descendants; returns the ids cancelled (none if it finished meanwhile)."""
        stamp = now_ms()  # one completion time for every attempt (see open_or_cancelled_at)
        stmt = select(W.c.timeout_ms).where(
            W.c.app_name == self.app,
            W.c.workflow_id == workflow_id,
            W.c.deadline_at <= now,
            open_or_cancelled_at(sorted(Status.RUNNABLE), stamp),
        )

        def write(c: Connection) -> list[str]:
            row = c.execute(stmt).first()
            if row is None:
                return []
            error = json.dumps(
                serialization.error_to_json(WorkflowTimeoutError(workflow_id, row.timeout_ms))
            )
            return self._cancel_tree(c, workflow_id, error, stamp)

        return self.db.writing(write, conn=conn, what="cancel a workflow past its deadline")

    def _cancel_tree(self, conn: Connection, root: str, error: str, stamp: int) -> list[str]:
        changed: list[str] = []
        frontier, seen, first = [root], set[str](), True
        while frontier:
            seen.update(frontier)
            res = conn.execute(
                update(W)
                .where(
                    and_(W.c.app_name == self.app, W.c.workflow_id.in_(frontier)),
                    open_or_cancelled_at(_OPEN, stamp),
                )
                .values(
                    status=Status.CANCELLED,
                    error=error if first else None,
                    updated_at=stamp,
                    completed_at=stamp,
                )
                .returning(W.c.workflow_id)
            )
            changed.extend(r.workflow_id for r in res)
            first = False
            kids = conn.execute(
                select(W.c.workflow_id).where(W.c.app_name == self.app, W.c.parent_id.in_(frontier))
            ).all()
            frontier = [k[0] for k in kids if k[0] not in seen]
        note_ended(conn, changed)
        return changed
