"""Durable streams: append-only entries per (workflow, key), read by offset.

An entry is appended in the transaction that records the workflow's ``stream`` operation
(fenced like every checkpoint), so a write happens exactly once across recovery. Its offset
is the next free one for the key, taken inside that transaction: a workflow is the only
writer of its streams, and its writes are ordered.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, func, select

from ..clock import now_ms
from .database import Database
from .schema import streams as S


class StreamRow(NamedTuple):
    offset: int
    value_json: str | None  # None marks the stream closed


class StreamStore:
    def __init__(self, db: Database, app_name: str) -> None:
        self.db = db
        self.app = app_name

    def append(
        self, conn: Connection, workflow_id: str, key: str, value_json: str | None, position: int
    ) -> int:
        """Append at the next offset (``value_json`` None closes the stream); the offset."""
        seq = conn.execute(
            select(func.coalesce(func.max(S.c.seq) + 1, 0)).where(
                S.c.app_name == self.app, S.c.workflow_id == workflow_id, S.c.key == key
            )
        ).scalar_one()
        conn.execute(
            S.insert().values(
                app_name=self.app,
                workflow_id=workflow_id,
                key=key,
                seq=int(seq),
                value=value_json,
                position=position,
                created_at=now_ms(),
            )
        )
        return int(seq)

    def read(
        self,
        workflow_id: str,
        key: str,
        offset: int,
        limit: int = 1000,
        *,
        conn: Connection | None = None,
    ) -> list[StreamRow]:
        """Entries at ``offset`` and after, in order, at most ``limit``."""
        stmt = (
            select(S.c.seq, S.c.value)
            .where(
                S.c.app_name == self.app,
                S.c.workflow_id == workflow_id,
                S.c.key == key,
                S.c.seq >= offset,
            )
            .order_by(S.c.seq)
            .limit(limit)
        )
        rows = self.db.reading(lambda c: c.execute(stmt).all(), conn=conn)
        return [StreamRow(int(r[0]), r[1]) for r in rows]
