"""Cron schedule rows: create or update, list, pause/resume, delete, advance the last tick."""

from __future__ import annotations

import builtins
import dataclasses
from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..clock import now_ms
from .database import Database
from .schema import schedules as S


@dataclasses.dataclass(frozen=True, slots=True)
class ScheduleRecord:
    name: str
    workflow_name: str
    cron: str
    timezone: str
    state: str  # ACTIVE or PAUSED
    missed: str  # skip or catch_up
    queue_name: str | None
    source: str  # code or runtime
    last_tick: int | None
    created_at: int
    updated_at: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _record(row: Any) -> ScheduleRecord:
    return ScheduleRecord(
        name=row.name,
        workflow_name=row.workflow_name,
        cron=row.cron,
        timezone=row.timezone,
        state=row.state,
        missed=row.missed,
        queue_name=row.queue_name,
        source=row.source,
        last_tick=row.last_tick,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class ScheduleStore:
    def __init__(self, db: Database, app_name: str) -> None:
        self.db = db
        self.app = app_name
        self._insert = sqlite.insert if db.is_sqlite else postgresql.insert

    def _pk(self, name: str) -> Any:
        return and_(S.c.app_name == self.app, S.c.name == name)

    def put(
        self,
        name: str,
        *,
        workflow_name: str,
        cron: str,
        timezone: str,
        missed: str,
        queue_name: str | None,
        source: str,
        replace: bool,
        conn: Connection | None = None,
    ) -> bool:
        """Create the schedule (its first tick is the next one after now); True if created.

        With ``replace`` an existing one takes the new definition but keeps its state
        (paused stays paused) and its last tick.
        """
        now = now_ms()
        definition = {
            "workflow_name": workflow_name,
            "cron": cron,
            "timezone": timezone,
            "missed": missed,
            "queue_name": queue_name,
            "source": source,
            "updated_at": now,
        }
        stmt = self._insert(S).values(
            app_name=self.app,
            name=name,
            state="ACTIVE",
            last_tick=now,
            created_at=now,
            **definition,
        )
        if replace:
            stmt = stmt.on_conflict_do_update(index_elements=["app_name", "name"], set_=definition)
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=["app_name", "name"])
        created_at = select(S.c.created_at).where(self._pk(name))

        def write(conn: Connection) -> bool:
            before = conn.execute(created_at).first()
            conn.execute(stmt)
            # Created at ``now``: by this call, also when a repeat finds its own row.
            return before is None or int(before[0]) == now

        return bool(self.db.writing(write, conn=conn, what="create a schedule"))

    def get(self, name: str, *, conn: Connection | None = None) -> ScheduleRecord | None:
        stmt = select(S).where(self._pk(name))
        row = self.db.reading(lambda c: c.execute(stmt).first(), conn=conn)
        return _record(row) if row else None

    def list(
        self, *, active_only: bool = False, conn: Connection | None = None
    ) -> list[ScheduleRecord]:
        stmt = select(S).where(S.c.app_name == self.app)
        if active_only:
            stmt = stmt.where(S.c.state == "ACTIVE")
        stmt = stmt.order_by(S.c.name)
        return self.db.reading(lambda c: [_record(r) for r in c.execute(stmt)], conn=conn)

    def set_state(self, name: str, state: str, *, conn: Connection | None = None) -> bool:
        stmt = update(S).where(self._pk(name)).values(state=state, updated_at=now_ms())
        return bool(self.db.writing(lambda c: c.execute(stmt).rowcount == 1, conn=conn))

    def remove(self, name: str, *, conn: Connection | None = None) -> bool:
        stmt = delete(S).where(self._pk(name))
        found = False  # by an earlier attempt whose commit was acknowledged to no one

        def write(c: Connection) -> bool:
            nonlocal found
            found = c.execute(stmt).rowcount == 1 or found
            return found

        return self.db.writing(write, conn=conn, what="remove a schedule")

    def remove_code_schedules_except(
        self, keep: set[str], *, conn: Connection | None = None
    ) -> builtins.list[str]:
        """Drop ``@app.scheduled`` rows whose decorator is gone from the current code."""
        code = select(S.c.name).where(S.c.app_name == self.app, S.c.source == "code")
        earlier: set[str] = set()  # what an earlier attempt found (see ``remove``)

        def write(c: Connection) -> builtins.list[str]:
            gone = [r.name for r in c.execute(code).all() if r.name not in keep]
            if gone:
                c.execute(delete(S).where(S.c.app_name == self.app, S.c.name.in_(gone)))
            earlier.update(gone)
            return sorted(earlier)

        return self.db.writing(write, conn=conn, what="remove schedules gone from the code")

    def advance(self, name: str, tick: int, *, conn: Connection | None = None) -> None:
        """Move the last handled tick forward (never back: executors race harmlessly)."""
        stmt = (
            update(S)
            .where(self._pk(name), or_(S.c.last_tick.is_(None), S.c.last_tick < tick))
            .values(last_tick=tick)
        )
        self.db.writing(lambda c: c.execute(stmt), conn=conn, single_statement=True)
