"""Version registry rows and per-app routing of new work."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..clock import now_ms
from ..routing import Routing
from .database import Database
from .schema import routing as R
from .schema import versions as V
from .schema import workflow_moves as M
from .schema import workflows as W


class VersionStore:
    def __init__(self, db: Database, app_name: str) -> None:
        self.db = db
        self.app = app_name
        self._insert = sqlite.insert if db.is_sqlite else postgresql.insert

    def seen(
        self,
        version: str,
        *,
        patches: Iterable[str] = (),
        platform_revision: str | None = None,
        workflows: Iterable[str] | None = None,
        source_hash: str | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Record that an executor running ``version`` launched (first/last seen, patches,
        the workflow names its code declares and the hash of their sources)."""
        now = now_ms()
        patches_json = json.dumps(sorted(set(patches)))
        workflows_json = None if workflows is None else json.dumps(sorted(set(workflows)))
        stmt = self._insert(V).values(
            app_name=self.app,
            version=version,
            platform_revision=platform_revision,
            state="active",
            patches=patches_json,
            first_seen=now,
            last_seen=now,
            workflows=workflows_json,
            source_hash=source_hash,
        )
        updates: dict[str, Any] = {"last_seen": now, "patches": patches_json}
        if workflows_json is not None:
            updates["workflows"] = workflows_json
        if source_hash is not None:
            updates["source_hash"] = source_hash
        if platform_revision is not None:
            updates["platform_revision"] = platform_revision
        stmt = stmt.on_conflict_do_update(index_elements=["app_name", "version"], set_=updates)
        self.db.writing(lambda c: c.execute(stmt), conn=conn, what="record the version")  # upsert

    def list(self, *, conn: Connection | None = None) -> list[dict[str, Any]]:
        stmt = select(V).where(V.c.app_name == self.app).order_by(V.c.first_seen)
        rows = self.db.reading(lambda c: c.execute(stmt).all(), conn=conn)
        out = []
        for r in rows:
            d = dict(r._mapping)
            d["patches"] = json.loads(d["patches"] or "[]")
            d["workflows"] = None if d["workflows"] is None else json.loads(d["workflows"])
            out.append(d)
        return out

    def apps(self, *, conn: Connection | None = None) -> builtins.list[str]:
        """Every app with a registered version in this database."""
        stmt = select(V.c.app_name).distinct()
        return sorted(
            self.db.reading(lambda c: builtins.list(c.execute(stmt).scalars()), conn=conn)
        )

    def known(self, *, conn: Connection | None = None) -> set[str]:
        stmt = select(V.c.version).where(V.c.app_name == self.app)
        return self.db.reading(lambda c: set(c.execute(stmt).scalars()), conn=conn)

    def had_work(self, versions: Iterable[str], *, conn: Connection | None = None) -> set[str]:
        """Those of ``versions`` that ever had a workflow (one now, or one moved away)."""
        wanted = builtins.list(versions)

        def read(c: Connection) -> set[str]:
            out = set()
            for v in wanted:
                ran = exists().where(W.c.version == v, W.c.app_name == self.app)
                moved = exists().where(M.c.app_name == self.app, M.c.from_version == v)
                if c.execute(select(ran | moved)).scalar():
                    out.add(v)
            return out

        return self.db.reading(read, conn=conn)

    def update(self, version: str, *, conn: Connection | None = None, **values: Any) -> bool:
        stmt = update(V).where(V.c.app_name == self.app, V.c.version == version).values(**values)
        # Sets fixed values on one row: a repeat matches the row again.
        return bool(self.db.writing(lambda c: c.execute(stmt).rowcount == 1, conn=conn))

    # -- routing ------------------------------------------------------------------------------

    def routing(self, *, conn: Connection | None = None) -> Routing:
        stmt = select(R).where(R.c.app_name == self.app)
        row = self.db.reading(lambda c: c.execute(stmt).first(), conn=conn)
        if row is None:
            return Routing(current=None)
        return Routing(row.current_version, row.ramping_version, float(row.ramping_percent))

    def set_routing(
        self, routing: Routing, *, by: str | None = None, conn: Connection | None = None
    ) -> None:
        stmt = self._insert(R).values(
            app_name=self.app,
            current_version=routing.current,
            ramping_version=routing.ramping,
            ramping_percent=routing.percent,
            updated_at=now_ms(),
            updated_by=by,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["app_name"],
            set_={
                "current_version": stmt.excluded.current_version,
                "ramping_version": stmt.excluded.ramping_version,
                "ramping_percent": stmt.excluded.ramping_percent,
                "updated_at": stmt.excluded.updated_at,
                "updated_by": stmt.excluded.updated_by,
            },
        )
        self.db.writing(lambda c: c.execute(stmt), conn=conn, what="set the routing")  # upsert

    def ensure_current(self, version: str, *, conn: Connection | None = None) -> Routing:
        """Set the current version on the app's first launch; never overrides an existing one."""
        stmt = (
            self._insert(R)
            .values(
                app_name=self.app,
                current_version=version,
                ramping_version=None,
                ramping_percent=0.0,
                updated_at=now_ms(),
                updated_by="first launch",
            )
            .on_conflict_do_nothing(index_elements=["app_name"])
        )
        self.db.writing(lambda c: c.execute(stmt), conn=conn)  # insert-if-absent
        return self.routing(conn=conn)
