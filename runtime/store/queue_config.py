"""Queues as the database knows them: what each version declared, the limits changed at run
time (which take precedence), and the log of those changes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..clock import now_ms
from ..errors import ConfigurationError
from .database import Database
from .schema import queue_changes as C
from .schema import queues as Q


@dataclass(frozen=True)
class QueueRow:
    name: str
    declared: dict[str, Any]
    overrides: dict[str, Any]
    declared_by: str | None
    updated_at: int


@dataclass(frozen=True)
class QueueChange:
    queue: str
    before: dict[str, Any]  # the overrides before the change
    after: dict[str, Any]
    changed_by: str
    changed_at: int


class QueueConfigStore:
    def __init__(self, db: Database, app_name: str) -> None:
        self.db = db
        self.app = app_name
        self._upsert = sqlite.insert if db.is_sqlite else postgresql.insert

    def declare(
        self,
        declared: Iterable[tuple[str, dict[str, Any]]],
        version: str,
        *,
        conn: Connection | None = None,
    ) -> None:
        """Record the queues a version declares (their limits; overrides stay)."""
        rows = [(name, json.dumps(limits, sort_keys=True)) for name, limits in declared]
        if not rows:
            return

        def write(conn: Connection) -> None:  # upserts: a repeat writes the same
            for name, limits in rows:
                stmt = self._upsert(Q).values(
                    app_name=self.app,
                    name=name,
                    declared=limits,
                    overrides="{}",
                    declared_by=version,
                    updated_at=now_ms(),
                )
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["app_name", "name"],
                        set_={"declared": limits, "declared_by": version},
                    )
                )

        self.db.writing(write, conn=conn, what="record the declared queues")

    def _row(self, r: Any) -> QueueRow:
        return QueueRow(
            r.name, json.loads(r.declared), json.loads(r.overrides), r.declared_by, r.updated_at
        )

    def all(self, *, conn: Connection | None = None) -> dict[str, QueueRow]:
        stmt = select(Q).where(Q.c.app_name == self.app)
        rows = self.db.reading(lambda c: c.execute(stmt).all(), conn=conn)
        return {r.name: self._row(r) for r in rows}

    def overrides(self, *, conn: Connection | None = None) -> dict[str, dict[str, Any]]:
        """Every queue's overrides (what executors apply on top of their declarations)."""
        stmt = select(Q.c.name, Q.c.overrides).where(
            Q.c.app_name == self.app, Q.c.overrides != "{}"
        )
        rows = self.db.reading(lambda c: c.execute(stmt).all(), conn=conn)
        return {r.name: json.loads(r.overrides) for r in rows}

    def change(
        self,
        name: str,
        set_: dict[str, Any],
        reset: Iterable[str],
        changed_by: str,
        *,
        conn: Connection | None = None,
    ) -> QueueChange:
        """Merge ``set_`` into the queue's overrides and drop ``reset``; logged."""
        now = now_ms()  # one time for every attempt: a repeat finds its own log row by it
        dropped = set(reset)
        last = (
            select(C)
            .where(C.c.app_name == self.app, C.c.queue_name == name)
            .order_by(C.c.id.desc())
            .limit(1)
        )

        def write(conn: Connection) -> QueueChange:
            mine = conn.execute(last).first()
            if mine is not None and (mine.changed_at, mine.changed_by) == (now, changed_by):
                # This call's commit was acknowledged to no one and it was repeated: done.
                return QueueChange(
                    name, json.loads(mine.before), json.loads(mine.after), changed_by, now
                )
            row = conn.execute(
                select(Q.c.overrides).where(Q.c.app_name == self.app, Q.c.name == name)
            ).first()
            if row is None:
                raise ConfigurationError(
                    f"no queue {name!r} in app {self.app!r}: a queue is known once an "
                    "executor that declares it (app.queue(...)) has launched"
                )
            before = json.loads(row.overrides)
            after = {k: v for k, v in {**before, **set_}.items() if k not in dropped}
            conn.execute(
                update(Q)
                .where(Q.c.app_name == self.app, Q.c.name == name)
                .values(overrides=json.dumps(after, sort_keys=True), updated_at=now)
            )
            conn.execute(
                C.insert().values(
                    app_name=self.app,
                    queue_name=name,
                    before=json.dumps(before, sort_keys=True),
                    after=json.dumps(after, sort_keys=True),
                    changed_by=changed_by,
                    changed_at=now,
                )
            )
            return QueueChange(name, before, after, changed_by, now)

        return self.db.writing(write, conn=conn, what="change a queue's limits")

    def changes(self, name: str, *, conn: Connection | None = None) -> list[QueueChange]:
        """The run-time changes of a queue's limits, oldest first."""
        stmt = select(C).where(C.c.app_name == self.app, C.c.queue_name == name).order_by(C.c.id)
        rows = self.db.reading(lambda c: c.execute(stmt).all(), conn=conn)
        return [
            QueueChange(
                r.queue_name, json.loads(r.before), json.loads(r.after), r.changed_by, r.changed_at
            )
            for r in rows
        ]
