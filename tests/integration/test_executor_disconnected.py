"""An executor that cannot renew its lease for longer than the lease says DISCONNECTED where
it still can, and ``tether executors`` shows it apart from live and dead ones; its next
heartbeat makes it RUNNING again.

The heartbeat is broken at the driver: on Postgres its backend is terminated just before
each heartbeat statement (what a failover does to it), on SQLite the statement fails with
the error a failing disk gives. Other statements go through, as when only the executor's
heartbeat path is cut off."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import event

from tether import Tether
from tether.cli import cli

from .helpers import wait_until

HEARTBEAT = re.compile(r"^UPDATE tether_executors SET .*heartbeat_at", re.DOTALL)


class BrokenHeartbeat:
    def __init__(self, app: Tether, database_url: str) -> None:
        self.on = threading.Event()
        self.app = app
        self.terminator: Any = None
        if not app.store.db.is_sqlite:
            from tests.faults.inject import Terminator

            self.terminator = Terminator(database_url)
        event.listen(app.store.db.engine, "before_cursor_execute", self._before)

    def _before(self, conn: Any, _cur: Any, statement: str, *_args: Any) -> None:
        if not (self.on.is_set() and HEARTBEAT.match(statement)):
            return
        if self.terminator is None:
            raise sqlite3.OperationalError("disk I/O error")
        self.terminator.pid(conn.connection.dbapi_connection.info.backend_pid)

    def close(self) -> None:
        event.remove(self.app.store.db.engine, "before_cursor_execute", self._before)
        if self.terminator is not None:
            self.terminator.close()


@pytest.fixture
def cli_json(database_url: str, app_name: str) -> Iterator[Callable[..., Any]]:
    def invoke(*args: str) -> Any:
        full = ["--database-url", database_url, "--app", app_name, "--json", *args]
        result = CliRunner().invoke(cli, full)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    yield invoke


def test_an_executor_that_lost_the_database_shows_disconnected(
    make_app: Callable[..., Tether],
    database_url: str,
    app_name: str,
    cli_json: Callable[..., Any],
) -> None:
    app = make_app(lease_timeout=1.0, heartbeat_interval=0.2).launch()
    me = app.engine.executor_id
    broken = BrokenHeartbeat(app, database_url)
    try:

        def state() -> str:
            (row,) = [r for r in cli_json("executors") if r["executor_id"] == me] or [None]
            return "" if row is None else str(row["state"])

        assert state() == "RUNNING"
        broken.on.set()
        wait_until(lambda: state() == "DISCONNECTED", timeout=20, what="DISCONNECTED")
        assert app._executor is not None and app._executor.health == "DISCONNECTED"
        table = CliRunner().invoke(
            cli, ["--database-url", database_url, "--app", app_name, "executors"]
        )
        assert "DISCONNECTED (lease lapsed)" in table.stdout  # not "DEAD": it may come back
        broken.on.clear()
        wait_until(lambda: state() == "RUNNING", timeout=20, what="RUNNING again")
    finally:
        broken.close()
