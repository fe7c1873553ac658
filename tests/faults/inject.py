"""Real database faults for tests: terminate Postgres backends of one app, at chosen points.

Backends are terminated with ``pg_terminate_backend`` — the server closes the connection
exactly as a failover or an idle-connection reaper does — and only backends of this
database serving the given app (``application_name = 'tether:<app>'``), so tests on the
same server are never touched.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import psycopg
from sqlalchemy import event
from tether.runtime.wakeups import libpq_url

from tether import Tether

# The first words of the statement each fault point terminates (see the store modules).
POINTS = {
    "start": r"^INSERT INTO tether_workflows",
    "checkpoint": r"^INSERT INTO tether_operations",
    "finish": r"^UPDATE tether_workflows SET status=",
    "claim": r"^UPDATE tether_workflows SET executor_id=",
    "heartbeat": r"^UPDATE tether_executors",
    "dequeue": r"^WITH picked AS",
}


class Terminator:
    """Terminates backends of this database (one connection of its own, never terminated)."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(libpq_url(url), autocommit=True)
        self._lock = threading.Lock()
        self.count = 0

    def pid(self, pid: int) -> None:
        with self._lock:
            self.conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid = %s AND datname = current_database()",
                (pid,),
            )
            self.count += 1

    def app(self, app_name: str) -> int:
        """Terminate every backend serving ``app_name``; returns how many."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = %s "
                "AND pid <> pg_backend_pid()",
                (f"tether:{app_name}",),
            ).fetchall()
            self.count += len(rows)
            return len(rows)

    def listeners(self) -> int:
        """Terminate this database's LISTEN connections (the queue wake-up listener)."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN tether%%' "
                "AND pid <> pg_backend_pid()"
            ).fetchall()
            self.count += len(rows)
            return len(rows)

    def close(self) -> None:
        self.conn.close()


def terminate_at(
    app: Tether, terminator: Terminator, point: str, *, times: int, every: int = 2
) -> list[int]:
    """Terminate the app's own backend just before it runs the ``point`` statement: the
    ``every``-th such statement, ``times`` times. Returns a list counting the kills."""
    pattern = re.compile(POINTS[point])
    seen = [0]
    killed: list[int] = []
    lock = threading.Lock()

    def before(conn: Any, _cur: Any, statement: str, *_args: Any) -> None:
        if not pattern.match(statement):
            return
        with lock:
            seen[0] += 1
            if len(killed) >= times or seen[0] % every:
                return
            killed.append(seen[0])
        terminator.pid(conn.connection.dbapi_connection.info.backend_pid)

    event.listen(app.store.db.engine, "before_cursor_execute", before)
    return killed
