"""Executor rows (heartbeats) and the claiming of workflows whose holder is gone."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..clock import now_ms
from ..leases import is_alive
from ..records import ExecutorRecord, Status
from .database import Database
from .schema import executors as X
from .schema import workflows as W
from .workflows import held_by


class ExecutorStore:
    def __init__(self, db: Database, app_name: str) -> None:
        self.db = db
        self.app = app_name
        self._insert = sqlite.insert if db.is_sqlite else postgresql.insert

    def register(
        self,
        executor_id: str,
        *,
        version: str,
        runnable: Iterable[str],
        host: str | None,
        pid: int | None,
        state: str = "RUNNING",
        lease_timeout_ms: int | None = None,
        conn: Connection | None = None,
    ) -> None:
        now = now_ms()
        stmt = self._insert(X).values(
            app_name=self.app,
            executor_id=executor_id,
            version=version,
            runnable_versions=json.dumps(sorted(set(runnable))),
            state=state,
            host=host,
            pid=pid,
            started_at=now,
            heartbeat_at=now,
            lease_timeout_ms=lease_timeout_ms,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["app_name", "executor_id"],
            set_={
                "version": stmt.excluded.version,
                "runnable_versions": stmt.excluded.runnable_versions,
                "state": stmt.excluded.state,
                "host": stmt.excluded.host,
                "pid": stmt.excluded.pid,
                "started_at": stmt.excluded.started_at,
                "heartbeat_at": stmt.excluded.heartbeat_at,
                "lease_timeout_ms": stmt.excluded.lease_timeout_ms,
            },
        )
        self.db.writing(lambda c: c.execute(stmt), conn=conn, what="register the executor")

    def heartbeat(
        self,
        executor_id: str,
        *,
        state: str,
        runnable: Iterable[str],
        conn: Connection | None = None,
    ) -> bool:
        """Renew the executor's lease. Not repeated when ``conn`` is None (the one write
        that opens its own transaction directly): the executor's heartbeat loop is the
        retry, and it must see each failure to judge its own lease."""
        stmt = (
            update(X)
            .where(X.c.app_name == self.app, X.c.executor_id == executor_id)
            .values(
                heartbeat_at=now_ms(),
                state=state,
                runnable_versions=json.dumps(sorted(set(runnable))),
            )
        )
        if conn is not None:
            return bool(conn.execute(stmt).rowcount == 1)
        with self.db.write() as c:
            return bool(c.execute(stmt).rowcount == 1)

    def set_state(self, executor_id: str, state: str, *, conn: Connection | None = None) -> None:
        stmt = (
            update(X)
            .where(X.c.app_name == self.app, X.c.executor_id == executor_id)
            .values(state=state, heartbeat_at=now_ms())
        )
        self.db.writing(lambda c: c.execute(stmt), conn=conn, what="set the executor state")

    def note_disconnected(self, executor_id: str) -> bool:
        """Record, if the database can be reached at all, that this executor cannot renew
        its lease: state DISCONNECTED, its heartbeat left as it was (peers still take its
        workflows once the lease lapses). One attempt, no retry: the caller's heartbeat
        loop tries again, and its next successful heartbeat writes RUNNING back."""
        stmt = (
            update(X)
            .where(
                X.c.app_name == self.app,
                X.c.executor_id == executor_id,
                X.c.state == "RUNNING",
            )
            .values(state="DISCONNECTED")
        )
        with self.db.write() as c:
            return bool(c.execute(stmt).rowcount == 1)

    def list(
        self,
        lease_timeout_ms: int,
        *,
        include_stopped: bool = True,
        conn: Connection | None = None,
    ) -> list[ExecutorRecord]:
        now = now_ms()
        stmt = select(X).where(X.c.app_name == self.app).order_by(X.c.started_at.desc())
        rows = self.db.reading(lambda c: c.execute(stmt).all(), conn=conn)
        out = []
        for r in rows:
            # Judged by the executor's own lease timeout when it recorded one.
            alive = is_alive(r.heartbeat_at, r.state, now, r.lease_timeout_ms or lease_timeout_ms)
            if not include_stopped and not alive:
                continue
            out.append(
                ExecutorRecord(
                    executor_id=r.executor_id,
                    version=r.version,
                    runnable_versions=tuple(json.loads(r.runnable_versions)),
                    state=r.state,
                    host=r.host,
                    pid=r.pid,
                    started_at=r.started_at,
                    heartbeat_at=r.heartbeat_at,
                    alive=alive,
                )
            )
        return out

    def find_claimable(
        self,
        runnable: Iterable[str],
        *,
        lease_timeout_ms: int,
        limit: int,
        own_executor_id: str | None = None,
        conn: Connection | None = None,
    ) -> builtins.list[Any]:
        """PENDING workflows of runnable versions whose holder is released, stopped or dead.

        ``own_executor_id`` adds this executor's own rows, left by an earlier process that
        used the same executor id (a fixed id, or a restarted Cloud Run instance).
        """
        # A holder is dead once its heartbeat is older than *its own* lease timeout.
        expired = X.c.heartbeat_at + func.coalesce(X.c.lease_timeout_ms, lease_timeout_ms)
        holder_gone = or_(
            W.c.executor_id.is_(None),
            X.c.executor_id.is_(None),
            expired < now_ms(),
            X.c.state == "STOPPED",
        )
        if own_executor_id is not None:
            holder_gone = or_(holder_gone, W.c.executor_id == own_executor_id)
        stmt = (
            select(
                W.c.workflow_id,
                W.c.executor_id,
                W.c.lease_epoch,
                W.c.recovery_attempts,
                W.c.name,
                X.c.executor_id.label("holder_row"),
                X.c.state.label("holder_state"),
            )
            .select_from(
                W.outerjoin(
                    X, and_(X.c.app_name == W.c.app_name, X.c.executor_id == W.c.executor_id)
                )
            )
            .where(
                W.c.app_name == self.app,
                W.c.status == Status.PENDING,
                W.c.version.in_(sorted(set(runnable))),
                holder_gone,
            )
            .order_by(W.c.updated_at)
            .limit(limit)
        )
        return self.db.reading(lambda c: list(c.execute(stmt).all()), conn=conn)

    def held(self, executor_id: str, *, conn: Connection | None = None) -> builtins.list[Any]:
        """PENDING workflows this executor holds (rows shaped like ``find_claimable``'s)."""
        stmt = select(
            W.c.workflow_id, W.c.executor_id, W.c.lease_epoch, W.c.recovery_attempts, W.c.name
        ).where(
            W.c.app_name == self.app,
            W.c.executor_id == executor_id,
            W.c.status == Status.PENDING,
        )
        return self.db.reading(lambda c: list(c.execute(stmt).all()), conn=conn)

    def claim(
        self,
        conn: Connection,
        workflow_id: str,
        *,
        old_holder: str | None,
        old_epoch: int,
        me: str,
        crashed: bool = True,
    ) -> bool:
        """Atomically take a workflow from its gone holder; bumps the fencing epoch, and the
        recovery attempts when the holder ``crashed``."""
        res = conn.execute(
            update(W)
            .where(
                W.c.app_name == self.app,
                W.c.workflow_id == workflow_id,
                held_by(old_holder, old_epoch),
            )
            .values(
                executor_id=me,
                lease_epoch=W.c.lease_epoch + 1,
                recovery_attempts=W.c.recovery_attempts + (1 if crashed else 0),
                updated_at=now_ms(),
            )
        )
        return res.rowcount == 1
