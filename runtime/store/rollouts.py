"""Rows of rollouts, their decision log, the per-service lock, and the autoscaler's state.

Plain reads and writes; what to write is decided above (``tether.rollout``). Every write is
idempotent where a step may be re-run after a crash: events carry a key, the lock is taken
by the rollout that already holds it without change.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..clock import now_ms
from .database import Database
from .schema import autoscale_state as A
from .schema import rollout_events as E
from .schema import rollout_locks as L
from .schema import rollouts as R


@dataclass(frozen=True)
class RolloutRow:
    rollout_id: str
    service: str
    baseline: str | None
    candidate: str
    state: str
    stage: int
    percent: int
    reason: str | None
    plan: dict[str, Any]
    platform: dict[str, Any]
    created_at: int
    updated_at: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class EventRow:
    rollout_id: str
    key: str
    kind: str
    detail: dict[str, Any]
    at: int


def _row(r: Any) -> RolloutRow:
    return RolloutRow(
        rollout_id=r.rollout_id,
        service=r.service,
        baseline=r.baseline,
        candidate=r.candidate,
        state=r.state,
        stage=int(r.stage),
        percent=int(r.percent),
        reason=r.reason,
        plan=json.loads(r.plan),
        platform=json.loads(r.platform),
        created_at=int(r.created_at),
        updated_at=int(r.updated_at),
    )


class RolloutStore:
    def __init__(self, db: Database, app_name: str) -> None:
        self.db = db
        self.app = app_name
        self._insert = sqlite.insert if db.dialect == "sqlite" else postgresql.insert

    # -- rollouts -----------------------------------------------------------------------------

    def create(
        self,
        rollout_id: str,
        *,
        service: str,
        candidate: str,
        plan: dict[str, Any],
        platform: dict[str, Any],
        state: str = "running",
        conn: Connection | None = None,
    ) -> RolloutRow:
        """Insert the rollout unless it exists; returns the row as stored."""
        now = now_ms()
        stmt = (
            self._insert(R)
            .values(
                app_name=self.app,
                rollout_id=rollout_id,
                service=service,
                candidate=candidate,
                state=state,
                plan=json.dumps(plan),
                platform=json.dumps(platform),
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["app_name", "rollout_id"])
        )
        self.db.writing(lambda c: c.execute(stmt), conn=conn)  # insert-if-absent
        row = self.get(rollout_id, conn=conn)
        assert row is not None
        return row

    def get(self, rollout_id: str, *, conn: Connection | None = None) -> RolloutRow | None:
        stmt = select(R).where(R.c.app_name == self.app, R.c.rollout_id == rollout_id)
        r = self.db.reading(lambda c: c.execute(stmt).first(), conn=conn)
        return _row(r) if r is not None else None

    def list(
        self, *, service: str | None = None, limit: int = 50, conn: Connection | None = None
    ) -> list[RolloutRow]:
        stmt = select(R).where(R.c.app_name == self.app)
        if service is not None:
            stmt = stmt.where(R.c.service == service)
        stmt = stmt.order_by(R.c.created_at.desc(), R.c.rollout_id).limit(limit)
        return self.db.reading(lambda c: [_row(r) for r in c.execute(stmt)], conn=conn)

    def update(self, rollout_id: str, *, conn: Connection | None = None, **values: Any) -> None:
        values["updated_at"] = now_ms()
        stmt = (
            update(R).where(R.c.app_name == self.app, R.c.rollout_id == rollout_id).values(**values)
        )
        self.db.writing(lambda c: c.execute(stmt), conn=conn)  # fixed values: repeats match

    # -- decisions ----------------------------------------------------------------------------

    def record(
        self,
        rollout_id: str,
        key: str,
        kind: str,
        detail: dict[str, Any],
        *,
        conn: Connection | None = None,
    ) -> bool:
        """Log a decision once per ``key``; False when it was already recorded."""
        values = {"kind": kind, "detail": json.dumps(detail, default=str), "at": now_ms()}
        stmt = (
            self._insert(E)
            .values(app_name=self.app, rollout_id=rollout_id, key=key, **values)
            .on_conflict_do_nothing(index_elements=["app_name", "rollout_id", "key"])
            .returning(E.c.key)  # not rowcount: psycopg reports -1 for a conflicting INSERT
        )
        stored = select(E.c.kind, E.c.detail, E.c.at).where(
            E.c.app_name == self.app, E.c.rollout_id == rollout_id, E.c.key == key
        )

        def write(c: Connection) -> bool:
            if c.execute(stmt).first() is not None:
                return True
            # Already there: recorded by this very call when its commit was acknowledged
            # to no one and the write was repeated (the same values), or else by another.
            row = c.execute(stored).first()
            return row is not None and tuple(row) == (kind, values["detail"], values["at"])

        return bool(self.db.writing(write, conn=conn))

    def events(self, rollout_id: str, *, conn: Connection | None = None) -> builtins.list[EventRow]:
        stmt = (
            select(E)
            .where(E.c.app_name == self.app, E.c.rollout_id == rollout_id)
            .order_by(E.c.at, E.c.key)
        )
        rows = self.db.reading(lambda c: c.execute(stmt).all(), conn=conn)
        return [EventRow(r.rollout_id, r.key, r.kind, json.loads(r.detail), r.at) for r in rows]

    # -- one active rollout per service -------------------------------------------------------

    def lock(self, service: str, rollout_id: str, *, conn: Connection | None = None) -> str:
        """Take the service's lock for ``rollout_id``; returns the rollout holding it."""
        stmt = (
            self._insert(L)
            .values(app_name=self.app, service=service, rollout_id=rollout_id, acquired_at=now_ms())
            .on_conflict_do_nothing(index_elements=["app_name", "service"])
        )
        holder = select(L.c.rollout_id).where(L.c.app_name == self.app, L.c.service == service)

        def write(c: Connection) -> str:  # insert-if-absent, then read: a repeat answers the same
            c.execute(stmt)
            return str(c.execute(holder).scalar_one())

        return self.db.writing(write, conn=conn)

    def holder(self, service: str, *, conn: Connection | None = None) -> str | None:
        stmt = select(L.c.rollout_id).where(L.c.app_name == self.app, L.c.service == service)
        value = self.db.reading(lambda c: c.execute(stmt).scalar(), conn=conn)
        return None if value is None else str(value)

    def unlock(self, service: str, rollout_id: str, *, conn: Connection | None = None) -> None:
        """Release the lock if ``rollout_id`` holds it (releasing twice is harmless)."""
        stmt = delete(L).where(
            and_(L.c.app_name == self.app, L.c.service == service),
            L.c.rollout_id == rollout_id,
        )
        self.db.writing(lambda c: c.execute(stmt), conn=conn)

    # -- autoscaler memory --------------------------------------------------------------------

    def autoscale_state(
        self, service: str, *, conn: Connection | None = None
    ) -> dict[str, Any] | None:
        stmt = select(A).where(A.c.app_name == self.app, A.c.service == service)
        r = self.db.reading(lambda c: c.execute(stmt).first(), conn=conn)
        return dict(r._mapping) if r is not None else None

    def save_autoscale_state(
        self, service: str, *, conn: Connection | None = None, **values: Any
    ) -> None:
        values["updated_at"] = now_ms()
        stmt = self._insert(A).values(app_name=self.app, service=service, **values)
        stmt = stmt.on_conflict_do_update(index_elements=["app_name", "service"], set_=values)
        self.db.writing(lambda c: c.execute(stmt), conn=conn)  # upsert
