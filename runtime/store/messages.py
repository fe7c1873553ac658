"""Messages between workflows (send/recv) and per-workflow events (set_event/get_event).

A waiter held in memory by another process learns of a message or an event from this
store: on Postgres the transaction that writes it NOTIFYs ``WAKES`` with the addressee's id
(delivered at commit, see ``wakeups.Listener``); SQLite has no NOTIFY, so a watcher there
asks, after each commit anywhere, which of its waiters have something
(``waiting_for`` and ``events_for``: one indexed query for the whole set).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from ..clock import now_ms
from .database import Database
from .schema import events as E
from .schema import message_keys as K
from .schema import messages as M
from .waits import WaitStore

DEFAULT_TOPIC = ""
# Postgres channel of "a message or an event for this workflow" (payload: JSON
# [app, MESSAGE or EVENT, workflow id, topic or key]). Apart from the queue channel, so that
# a listener that knows only queue notes never mistakes one for work to claim.
WAKES = "tether_wakes"
MESSAGE, EVENT = "message", "event"
_CHUNK = 500  # ids per IN list: well under any SQLite's limit on bound parameters


def wake_note(app: str, kind: str, workflow_id: str, topic: str) -> str:
    return json.dumps([app, kind, workflow_id, topic])


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


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
        t = topic or DEFAULT_TOPIC
        woken = self.waits.wake_recv(conn, dest_id, t)
        insert = M.insert().values(
            app_name=self.app, dest_id=dest_id, topic=t, payload=payload_json, created_at=now_ms()
        )
        if not woken and not self.db.is_sqlite:
            # Not suspended (a suspended one was woken above, with its own note): it may be
            # waiting in memory somewhere. Delivered at commit, in the same round trip.
            note = wake_note(self.app, MESSAGE, dest_id, t)
            insert = insert.returning(func.pg_notify(WAKES, note))
        conn.execute(insert)
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
        if not self.db.is_sqlite:  # to who waits for it in memory elsewhere (at commit)
            note = wake_note(self.app, EVENT, workflow_id, key)
            conn.execute(select(func.pg_notify(WAKES, note)))

    def waiting_for(self, waiting: Iterable[str]) -> set[tuple[str, str]]:
        """Of the workflow ids ``waiting``, which have a message, on which topics: one
        indexed read (on Postgres, per 500 ids), the SQLite watcher's question."""
        return self._pairs(M.c.dest_id, M.c.topic, waiting)

    def events_for(self, watched: Iterable[str]) -> set[tuple[str, str]]:
        """Of the workflows ``watched``, the (workflow id, key) of every event they set."""
        return self._pairs(E.c.workflow_id, E.c.key, watched)

    def _pairs(self, id_col: Any, topic_col: Any, ids: Iterable[str]) -> set[tuple[str, str]]:
        table, wanted = id_col.table, sorted(set(ids))

        def statement(chunk: list[str]) -> Any:
            if self.db.is_sqlite:
                # The ids as one JSON array: one statement of one shape (compiled once), one
                # bound value however many wait, and the index probed per id inside SQLite.
                listed = func.json_each(json.dumps(chunk)).table_valued("value")
                among = id_col.in_(select(listed.c.value))
            else:
                among = id_col.in_(chunk)
            return select(id_col, topic_col).where(table.c.app_name == self.app, among).distinct()

        def read(conn: Connection) -> set[tuple[str, str]]:
            found: set[tuple[str, str]] = set()
            for chunk in [wanted] if self.db.is_sqlite else _chunks(wanted):
                found.update((r[0], r[1]) for r in conn.execute(statement(chunk)))
            return found

        return self.db.reading(read)

    def get_event(
        self, workflow_id: str, key: str, *, conn: Connection | None = None
    ) -> str | None:
        stmt = select(E.c.value).where(
            E.c.app_name == self.app, E.c.workflow_id == workflow_id, E.c.key == key
        )
        row = self.db.reading(lambda c: c.execute(stmt).first(), conn=conn)
        return row.value if row else None
