"""Enqueue from outside the app (tether.Client), inside the caller's transaction, and the
load statistics; Postgres wake-ups by NOTIFY (and after the listener reconnects)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from tether.runtime.errors import ConfigurationError, SchemaError
from tether.runtime.store import normalize_url
from tether.runtime.wakeups import libpq_url

from tether import Client, Status, Tether
from tether.cli import cli

from .helpers import wait_until
from .queue_helpers import Recorder, queued_app

# psycopg connections and LISTEN/NOTIFY exist on Postgres only.
POSTGRES_ONLY = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


def test_client_enqueues_by_name_without_workflow_code(
    make_app: Callable[..., Tether], database_url: str, app_name: str
) -> None:
    rec = Recorder()
    queued_app(make_app, rec)
    with Client(database_url, app_name) as client:
        h = client.enqueue("q", "job", "from-client", partition_key="p")
        assert h.result(timeout=10) == "from-client"
        assert client.get_workflow(h.workflow_id).version == "v1"
        assert client.retrieve_workflow(h.workflow_id).status() == Status.SUCCESS


def test_client_refuses_a_name_no_version_declares(
    make_app: Callable[..., Tether], database_url: str, app_name: str
) -> None:
    app = make_app()

    @app.workflow()  # default name: module-qualified
    def expense_agent() -> str:
        return "ok"

    app.launch()
    qualified = expense_agent.__tether_workflow__  # type: ignore[attr-defined]  # module.qualname
    with Client(database_url, app_name) as client:
        with pytest.raises(ConfigurationError, match=f"did you mean '{qualified}'"):
            client.enqueue("agents", "expense_agent")
        assert client.store.workflows.list(limit=10) == []  # nothing was written
        assert client.queue("agents").enqueue(qualified).workflow_id


def test_client_on_an_empty_database_says_migrate(tmp_path: object) -> None:
    with (
        Client(f"sqlite:///{tmp_path}/empty.db", "a") as client,
        pytest.raises(SchemaError, match="tether migrate"),
    ):
        client.enqueue("q", "job")


def test_enqueue_joins_the_callers_sqlalchemy_transaction(
    make_app: Callable[..., Tether], database_url: str
) -> None:
    rec = Recorder()
    app, q = queued_app(make_app, rec)
    engine = create_engine(normalize_url(database_url))
    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS orders_test (id VARCHAR(64))"))
            conn.commit()
            with conn.begin() as tx:
                conn.execute(text("INSERT INTO orders_test VALUES (:i)"), {"i": app.app_name})
                gone = q.enqueue("job", "rolled back", connection=conn)
                tx.rollback()
            with conn.begin():
                conn.execute(text("INSERT INTO orders_test VALUES (:i)"), {"i": app.app_name})
                kept = q.enqueue("job", "committed", connection=conn)
            assert kept.result(timeout=10) == "committed"
            n = conn.execute(
                text("SELECT count(*) FROM orders_test WHERE id = :i"), {"i": app.app_name}
            ).scalar_one()
        assert n == 1
        assert app.store.workflows.get(gone.workflow_id) is None  # nothing left behind
        assert rec.order == ["committed"]
    finally:
        engine.dispose()


def test_enqueue_joins_an_orm_session(make_app: Callable[..., Tether], database_url: str) -> None:
    from sqlalchemy.orm import Session

    rec = Recorder()
    app, q = queued_app(make_app, rec)
    engine = create_engine(normalize_url(database_url))
    try:
        with Session(engine) as session:
            gone = q.enqueue("job", "rolled back", connection=session)
            session.rollback()
            kept = q.enqueue("job", "committed", connection=session)
            session.commit()
        assert kept.result(timeout=10) == "committed"
        assert app.store.workflows.get(gone.workflow_id) is None
    finally:
        engine.dispose()


@POSTGRES_ONLY
def test_enqueue_joins_a_psycopg_transaction(
    make_app: Callable[..., Tether], database_url: str
) -> None:
    rec = Recorder()
    app, q = queued_app(make_app, rec)
    with psycopg.connect(libpq_url(normalize_url(database_url))) as conn:
        gone = q.enqueue("job", "rolled back", connection=conn)
        conn.rollback()
        kept = q.enqueue("job", "committed", connection=conn)
        conn.commit()
    assert kept.result(timeout=10) == "committed"
    assert app.store.workflows.get(gone.workflow_id) is None
    assert rec.order == ["committed"]


def test_new_work_wakes_an_executor_that_polls_rarely(
    make_app: Callable[..., Tether], database_url: str, app_name: str
) -> None:
    """Postgres: NOTIFY; SQLite: the data_version watch. The poll (30 s) is longer than any
    deadline here, so only a wake-up can start the jobs in time."""
    rec = Recorder()
    app, _ = queued_app(make_app, rec, app_options={"poll_interval": 30.0})
    listener = app._dispatch.listener
    assert listener is not None
    wait_until(listener.connected.is_set, what="the listener to connect")
    with Client(database_url, app_name) as client:
        for i in range(3):
            assert client.enqueue("q", "job", i).result(timeout=15) == i


@POSTGRES_ONLY
def test_listener_reconnects(
    make_app: Callable[..., Tether], database_url: str, app_name: str
) -> None:
    rec = Recorder()
    app, _ = queued_app(make_app, rec, app_options={"poll_interval": 30.0})
    listener = app._dispatch.listener
    assert listener is not None
    wait_until(listener.connected.is_set, what="the listener to connect")
    with psycopg.connect(libpq_url(normalize_url(database_url)), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN tether%' "
            "AND pid <> pg_backend_pid()"
        )
    wait_until(lambda: not listener.connected.is_set(), what="the listener to notice")
    wait_until(listener.connected.is_set, what="the listener to reconnect")
    with Client(database_url, app_name) as client:
        # Woken again, not polled: the poll (30 s) is longer than the deadline.
        assert client.enqueue("q", "job", 2).result(timeout=15) == 2


def test_queue_stats(make_app: Callable[..., Tether], database_url: str, app_name: str) -> None:
    rec = Recorder()
    app, q = queued_app(make_app, rec)
    for i in range(3):
        q.enqueue("job", i).result(timeout=10)
    waiting = q.enqueue("job", "for v9", version="v9")
    time.sleep(0.05)
    stats = {(r["queue"], r["version"]): r for r in app.queue_stats(window=60)}
    done, stuck = stats[("q", "v1")], stats[("q", "v9")]
    assert done["finished"] == {"SUCCESS": 3} and done["waiting"] == 0
    assert done["throughput_per_s"] == pytest.approx(3 / 60)
    assert set(done["start_latency_ms"]) == {"p50", "p95", "p99"}
    assert stuck["waiting"] == 1 and stuck["oldest_wait_s"] >= 0.05
    assert waiting.status() == Status.ENQUEUED
    env = {"TETHER_DATABASE_URL": database_url, "TETHER_APP_NAME": app_name}
    result = CliRunner().invoke(cli, ["queues", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert {(r["version"], r["waiting"]) for r in json.loads(result.output)} == {
        ("v1", 0),
        ("v9", 1),
    }
    table = CliRunner().invoke(cli, ["queues", "--window", "30"], env=env).output
    assert "DONE/30s" in table and "v9" in table


def test_enqueue_async(make_app: Callable[..., Tether], database_url: str, app_name: str) -> None:
    rec = Recorder()
    app, q = queued_app(make_app, rec)

    async def main() -> list[object]:
        h = await q.enqueue_async("job", "async")
        with Client(database_url, app_name) as client:
            h2 = await client.enqueue_async("q", "job", "client async")
            return [await h.result_async(timeout=10), await h2.result_async(timeout=10)]

    assert asyncio.run(main()) == ["async", "client async"]
