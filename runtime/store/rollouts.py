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

from sqlalchemy import and_, delete, select, update
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
        with self.db.write() as conn:
            conn.execute(stmt)
        row = self.get(rollout_id)
        assert row is not None
        return row

    def get(self, rollout_id: str) -> RolloutRow | None:
        with self.db.read() as conn:
            r = conn.execute(
                select(R).where(R.c.app_name == self.app, R.c.rollout_id == rollout_id)
            ).first()
        return _row(r) if r is not None else None

    def list(self, *, service: str | None = None, limit: int = 50) -> list[RolloutRow]:
        stmt = select(R).where(R.c.app_name == self.app)
        if service is not None:
            stmt = stmt.where(R.c.service == service)
        stmt = stmt.order_by(R.c.created_at.desc(), R.c.rollout_id).limit(limit)
        with self.db.read() as conn:
            return [_row(r) for r in conn.execute(stmt)]

    def update(self, rollout_id: str, **values: Any) -> None:
        values["updated_at"] = now_ms()
        with self.db.write() as conn:
            conn.execute(
                update(R)
                .where(R.c.app_name == self.app, R.c.rollout_id == rollout_id)
                .values(**values)
            )

    # -- decisions ----------------------------------------------------------------------------

    def record(self, rollout_id: str, key: str, kind: str, detail: dict[str, Any]) -> bool:
        """Log a decision once per ``key``; False when it was already recorded."""
        stmt = (
            self._insert(E)
            .values(
                app_name=self.app,
                rollout_id=rollout_id,
                key=key,
                kind=kind,
                detail=json.dumps(detail, default=str),
                at=now_ms(),
            )
            .on_conflict_do_nothing(index_elements=["app_name", "rollout_id", "key"])
        )
        with self.db.write() as conn:
            return bool(conn.execute(stmt).rowcount)

    def events(self, rollout_id: str) -> builtins.list[EventRow]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(E)
                .where(E.c.app_name == self.app, E.c.rollout_id == rollout_id)
                .order_by(E.c.at, E.c.key)
            ).all()
        return [EventRow(r.rollout_id, r.key, r.kind, json.loads(r.detail), r.at) for r in rows]

    # -- one active rollout per service -------------------------------------------------------

    def lock(self, service: str, rollout_id: str) -> str:
        """Take the service's lock for ``rollout_id``; returns the rollout holding it."""
        stmt = (
            self._insert(L)
            .values(app_name=self.app, service=service, rollout_id=rollout_id, acquired_at=now_ms())
            .on_conflict_do_nothing(index_elements=["app_name", "service"])
        )
        with self.db.write() as conn:
            conn.execute(stmt)
            holder = conn.execute(
                select(L.c.rollout_id).where(L.c.app_name == self.app, L.c.service == service)
            ).scalar_one()
        return str(holder)

    def holder(self, service: str) -> str | None:
        with self.db.read() as conn:
            return conn.execute(
                select(L.c.rollout_id).where(L.c.app_name == self.app, L.c.service == service)
            ).scalar()

    def unlock(self, service: str, rollout_id: str) -> None:
        """Release the lock if ``rollout_id`` holds it (releasing twice is harmless)."""
        with self.db.write() as conn:
            conn.execute(
                delete(L).where(
                    and_(L.c.app_name == self.app, L.c.service == service),
                    L.c.rollout_id == rollout_id,
                )
            )

    # -- autoscaler memory --------------------------------------------------------------------

    def autoscale_state(self, service: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            r = conn.execute(
                select(A).where(A.c.app_name == self.app, A.c.service == service)
            ).first()
        return dict(r._mapping) if r is not None else None

    def save_autoscale_state(self, service: str, **values: Any) -> None:
        values["updated_at"] = now_ms()
        stmt = self._insert(A).values(app_name=self.app, service=service, **values)
        stmt = stmt.on_conflict_do_update(index_elements=["app_name", "service"], set_=values)
        with self.db.write() as conn:
            conn.execute(stmt)
