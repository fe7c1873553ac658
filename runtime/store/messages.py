"""Messages between workflows (send/recv) and per-workflow events (set_event/get_event)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from ..clock import now_ms
from .database import Database
from .schema import events as E
from .schema import message_keys as K
from .schema import messages as M
from .waits import WaitStore

DEFAULT_TOPIC = ""


class MessageStore:
    def __init__(self, db: Database, app_name: str) -> None:
        self.db = db
        self.app = app_name
        self._upsert = sqlite.insert if db.is_sqlite else postgresql.insert
        self.waits = WaitStore(db, app_name)

    def send(
        self,
        conn: Connection,
        dest_id: str,
        topic: str | None,
        payload_json: str,
        idempotency_key: str | None = None,
    ) -> bool:
        """Deliver a message and wake ``dest_id`` if it is suspended waiting for it; False
        (nothing delivered) when ``idempotency_key`` was already used for ``dest_id``."""
        if idempotency_key is not None:
            first = conn.execute(
                self._upsert(K)
                .values(
                    app_name=self.app,
                    dest_id=dest_id,
                    idempotency_key=idempotency_key,
                    created_at=now_ms(),
                )
                .on_conflict_do_nothing()
                .returning(K.c.dest_id)
            ).first()
            if first is None:
                return False
        self.waits.wake_recv(conn, dest_id, topic or DEFAULT_TOPIC)
        conn.execute(
            M.insert().values(
                app_name=self.app,
                dest_id=dest_id,
                topic=topic or DEFAULT_TOPIC,
                payload=payload_json,
                created_at=now_ms(),
            )
        )
        return True

    def peek_oldest(self, conn: Connection, dest_id: str, topic: str | None) -> Any:
        stmt = (
            select(M.c.id, M.c.payload)
            .where(
                M.c.app_name == self.app,
                M.c.dest_id == dest_id,
                M.c.topic == (topic or DEFAULT_TOPIC),
            )
            .order_by(M.c.id)
            .limit(1)
        )
        if not self.db.is_sqlite:
            stmt = stmt.with_for_update(skip_locked=True)
        return conn.execute(stmt).first()

    def has_message(
        self, dest_id: str, topic: str | None, *, conn: Connection | None = None
    ) -> bool:
        stmt = (
            select(M.c.id)
            .where(
                M.c.app_name == self.app,
                M.c.dest_id == dest_id,
                M.c.topic == (topic or DEFAULT_TOPIC),
            )
            .limit(1)
        )
        return bool(self.db.reading(lambda c: c.execute(stmt).first() is not None, conn=conn))

    def delete(self, conn: Connection, message_id: int) -> None:
        conn.execute(delete(M).where(M.c.id == message_id))

    def set_event(self, conn: Connection, workflow_id: str, key: str, value_json: str) -> None:
        stmt = self._upsert(E).values(
            app_name=self.app,
            workflow_id=workflow_id,
            key=key,
            value=value_json,
            updated_at=now_ms(),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["app_name", "workflow_id", "key"],
            set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
        )
        conn.execute(stmt)

    def get_event(
        self, workflow_id: str, key: str, *, conn: Connection | None = None
    ) -> str | None:
        stmt = select(E.c.value).where(
            E.c.app_name == self.app, E.c.workflow_id == workflow_id, E.c.key == key
        )
        row = self.db.reading(lambda c: c.execute(stmt).first(), conn=conn)
        return row.value if row else None
