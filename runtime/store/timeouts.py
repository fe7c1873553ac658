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

    def due(self, now: int, limit: int = 100) -> list[str]:
        """Open workflows whose deadline is at or before ``now`` (a read; uses the partial
        deadline index, whose predicate the query repeats)."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(W.c.workflow_id)
                .where(
                    text(DEADLINE_OPEN),
                    W.c.deadline_at <= now,
                    W.c.app_name == self.app,
                )
                .limit(limit)
            ).all()
        return [r[0] for r in rows]

    def expire(self, workflow_id: str, now: int) -> list[str]:
        """Cancel ``workflow_id`` (if its deadline passed and it is open) and its open
        descendants; returns the ids cancelled (none if it finished meanwhile)."""
        with self.db.write() as conn:
            row = conn.execute(
                select(W.c.timeout_ms).where(
                    W.c.app_name == self.app,
                    W.c.workflow_id == workflow_id,
                    W.c.deadline_at <= now,
                    W.c.status.in_(sorted(Status.RUNNABLE)),
                )
            ).first()
            if row is None:
                return []
            error = json.dumps(
                serialization.error_to_json(WorkflowTimeoutError(workflow_id, row.timeout_ms))
            )
            return self._cancel_tree(conn, workflow_id, error)

    def _cancel_tree(self, conn: Connection, root: str, error: str) -> list[str]:
        changed: list[str] = []
        frontier, seen, first = [root], set[str](), True
        while frontier:
            seen.update(frontier)
            res = conn.execute(
                update(W)
                .where(
                    and_(W.c.app_name == self.app, W.c.workflow_id.in_(frontier)),
                    W.c.status.in_(_OPEN),
                )
                .values(
                    status=Status.CANCELLED,
                    error=error if first else None,
                    updated_at=now_ms(),
                    completed_at=now_ms(),
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
