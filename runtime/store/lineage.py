"""Where a workflow came from: forks of other workflows and moves between versions.

A move changes the version a workflow is tethered to. It is one fenced transaction: the row
must still be on the version, at the lease epoch and with the history length that were
checked, and must not be running right now (a PENDING workflow whose holder is alive); the
epoch is bumped so a stale holder can no longer write, and the move is logged.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, and_, case, exists, func, literal, or_, select, update
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects import postgresql, sqlite

from ..clock import now_ms
from ..records import Status
from .database import Database
from .schema import executors as X
from .schema import operations as O
from .schema import streams as S
from .schema import workflow_moves as M
from .schema import workflows as W

MOVABLE = tuple(sorted(Status.OPEN))


class _Changed(Exception):
    """The workflow changed between the check and the move: roll the move back."""


class LineageStore:
    def __init__(self, db: Database, app_name: str) -> None:
        self.db = db
        self.app = app_name
        self._insert = (sqlite.insert if db.is_sqlite else postgresql.insert)(W)

    def _pk(self, workflow_id: str) -> Any:
        return and_(W.c.app_name == self.app, W.c.workflow_id == workflow_id)

    # -- moves --------------------------------------------------------------------------------

    def running_holder(self, lease_timeout_ms: int) -> Any:
        """True for a row held by a live executor: not stopped, and its heartbeat within its
        own lease timeout (``lease_timeout_ms`` for executors that did not record one)."""
        return exists(
            select(literal(1))
            .select_from(X)
            .where(
                X.c.app_name == W.c.app_name,
                X.c.executor_id == W.c.executor_id,
                X.c.heartbeat_at + func.coalesce(X.c.lease_timeout_ms, lease_timeout_ms)
                >= now_ms(),
                X.c.state != "STOPPED",
            )
        )

    def move(
        self,
        workflow_id: str,
        *,
        from_version: str,
        to_version: str,
        epoch: int,
        history_length: int,
        lease_timeout_ms: int,
        moved_by: str,
        detail: dict[str, Any],
        conn: Connection | None = None,
    ) -> bool:
        """Move one workflow if nothing changed since it was checked; False otherwise."""
        not_running = or_(
            W.c.status != Status.PENDING,
            W.c.executor_id.is_(None),
            ~self.running_holder(lease_timeout_ms),
        )
        now = now_ms()
        log = {
            "app_name": self.app,
            "workflow_id": workflow_id,
            "from_version": from_version,
            "to_version": to_version,
            "kind": "migrate",
            "moved_by": moved_by[:255],
            "moved_at": now,
            "detail": json.dumps(detail),
        }
        # This call's own log row, were its commit acknowledged to no one (then it is repeated
        # and finds the row moved: the move is done, not refused).
        logged = select(literal(1)).where(*[M.c[k] == v for k, v in log.items()])

        def write(conn: Connection) -> None:
            res = conn.execute(
                update(W)
                .where(
                    self._pk(workflow_id),
                    W.c.version == from_version,
                    W.c.status.in_(MOVABLE),
                    W.c.lease_epoch == epoch,
                    not_running,
                )
                .values(
                    version=to_version,
                    executor_id=None,
                    lease_epoch=W.c.lease_epoch + 1,
                    updated_at=now,
                )
            )
            if res.rowcount != 1:
                if conn.execute(logged).first() is not None:
                    return
                raise _Changed
            # The row is locked now: a stale holder's fenced checkpoint either committed
            # before (and is counted here) or waits and then fails its epoch check.
            if self.history_length(workflow_id, conn=conn) != history_length:
                raise _Changed
            conn.execute(sa_insert(M).values(**log))

        try:
            # Compare-and-set on the epoch, and a repeat finds its own log row: repeatable.
            self.db.writing(write, conn=conn, what="move a workflow")
        except _Changed:
            return False
        return True

    def open_ids(self, version: str, *, conn: Connection | None = None) -> list[str]:
        """Ids of the movable (open) workflows on ``version``, oldest first."""
        stmt = (
            select(W.c.workflow_id)
            .where(W.c.app_name == self.app, W.c.version == version, W.c.status.in_(MOVABLE))
            .order_by(W.c.created_at, W.c.workflow_id)
        )
        return self.db.reading(lambda c: list(c.execute(stmt).scalars()), conn=conn)

    def history_length(self, workflow_id: str, *, conn: Connection | None = None) -> int:
        stmt = select(func.count()).where(O.c.app_name == self.app, O.c.workflow_id == workflow_id)
        return int(self.db.reading(lambda c: c.execute(stmt).scalar_one(), conn=conn))

    def moves(self, workflow_id: str, *, conn: Connection | None = None) -> list[dict[str, Any]]:
        """The workflow's moves between versions, oldest first."""
        stmt = (
            select(
                M.c.from_version, M.c.to_version, M.c.kind, M.c.moved_by, M.c.moved_at, M.c.detail
            )
            .where(M.c.app_name == self.app, M.c.workflow_id == workflow_id)
            .order_by(M.c.id)
        )
        rows = self.db.reading(lambda c: c.execute(stmt).all(), conn=conn)
        out = []
        for r in rows:
            d = dict(r._mapping)
            d["detail"] = json.loads(d["detail"]) if d["detail"] else None
            out.append(d)
        return out

    # -- forks --------------------------------------------------------------------------------

    def fork(
        self,
        conn: Connection,
        *,
        origin_id: str,
        new_id: str,
        position: int,
        version: str,
    ) -> bool:
        """Create ``new_id`` as a PENDING, unheld copy of ``origin_id`` with its history
        before ``position``; False (and nothing written) when ``new_id`` already exists."""
        origin = conn.execute(select(W.c.name, W.c.inputs).where(self._pk(origin_id))).first()
        if origin is None:
            return False
        now = now_ms()
        created = conn.execute(
            self._insert.values(
                app_name=self.app,
                workflow_id=new_id,
                name=origin.name,
                status=Status.PENDING,
                version=version,
                executor_id=None,
                lease_epoch=0,
                inputs=origin.inputs,
                priority=0,
                recovery_attempts=0,
                created_at=now,
                updated_at=now,
                started_at=now,
                forked_from=origin_id,
                forked_from_position=position,
            )
            .on_conflict_do_nothing(index_elements=["app_name", "workflow_id"])
            .returning(W.c.workflow_id)
        ).first()
        if created is None:
            return False
        # A read of the origin's own event, recorded under its id by older code, becomes a
        # read of the fork's own (see primitives.event_name).
        own = f"{origin_id}:"
        name = case(
            (
                and_(O.c.kind == "get_event", func.substr(O.c.name, 1, len(own)) == own),
                literal(":") + func.substr(O.c.name, len(own) + 1),
            ),
            else_=O.c.name,
        ).label("name")
        copied = [
            name if c.name == "name" else c
            for c in O.c
            if c.name not in ("app_name", "workflow_id")
        ]
        conn.execute(
            sa_insert(O).from_select(
                ["app_name", "workflow_id", *[c.name for c in copied]],
                select(literal(self.app), literal(new_id), *copied).where(
                    O.c.app_name == self.app,
                    O.c.workflow_id == origin_id,
                    O.c.position < position,
                ),
            )
        )
        # Stream entries written by the copied operations (the fork replays those writes).
        kept = [c for c in S.c if c.name not in ("app_name", "workflow_id")]
        conn.execute(
            sa_insert(S).from_select(
                ["app_name", "workflow_id", *[c.name for c in kept]],
                select(literal(self.app), literal(new_id), *kept).where(
                    S.c.app_name == self.app,
                    S.c.workflow_id == origin_id,
                    S.c.position < position,
                ),
            )
        )
        return True
