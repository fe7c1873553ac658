"""DBOS's side of Q1/Q2 (see bench/queues.py), with DBOS's defaults (a 1 s queue poll), or
tuned with ``BENCH_DBOS_POLL`` (seconds; set by ``bench.queues --dbos-poll``)."""

from __future__ import annotations

import os
import time
from typing import Any

import sqlalchemy as sa
from dbos import DBOS, DBOSClient

from .queues import APP, QUEUE, serve_until_signalled

VERSION = "bench-v1"


@DBOS.step()
def trivial(i: int) -> int:
    return i


@DBOS.workflow()
def one_step(i: int) -> int:
    return trivial(i)


@DBOS.step()
def clock() -> float:
    return time.time()


@DBOS.workflow()
def stamped(i: int) -> float:
    return clock()


def _launch(url: str) -> None:
    DBOS(
        config={
            "name": APP,
            "system_database_url": url,
            "log_level": "WARNING",
            "application_version": VERSION,
        }
    )
    DBOS.launch()
    poll = os.environ.get("BENCH_DBOS_POLL")
    if poll:
        DBOS.register_queue(QUEUE, polling_interval_sec=float(poll))
    else:
        DBOS.register_queue(QUEUE)


def worker(url: str) -> None:
    _launch(url)
    try:
        serve_until_signalled()
    finally:
        DBOS.destroy(destroy_registry=True)


def setup(url: str) -> None:
    """Create DBOS's schema and the queue in a throwaway process, then leave no executor."""
    import subprocess
    import sys

    code = (
        "import sys; from bench import dbos_queues as m; m._launch(sys.argv[1]); "
        "from dbos import DBOS; DBOS.destroy(destroy_registry=True)"
    )
    subprocess.run([sys.executable, "-c", code, url], check=True)


def enqueue_backlog(url: str, n: int) -> None:
    client = DBOSClient(system_database_url=url)
    try:
        for i in range(n):
            client.enqueue({"queue_name": QUEUE, "workflow_name": "one_step"}, i)
    finally:
        client.destroy()


class Enqueuer:
    def __init__(self, url: str) -> None:
        self.client = DBOSClient(system_database_url=url)

    def __enter__(self) -> Enqueuer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.destroy()

    def run_one(self, i: int) -> float:
        """Milliseconds from just before the enqueue to the start of the workflow's step."""
        before = time.time()
        handle = self.client.enqueue({"queue_name": QUEUE, "workflow_name": "stamped"}, i)
        return (float(handle.get_result()) - before) * 1000


def progress_table(url: str) -> tuple[str, str]:
    """For bench.queues.Progress: the table of this engine's workflows, and a filter."""
    return ("workflow_status", "") if url.startswith("sqlite") else ("dbos.workflow_status", "")


def _engine(url: str) -> tuple[sa.Engine, str]:
    if url.startswith("sqlite"):
        return sa.create_engine(url), "workflow_status"
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://")), (
        "dbos.workflow_status"
    )


def _query(url: str, sql: str) -> list[Any]:
    engine, table = _engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql.format(table=table)), {"q": QUEUE}))
    finally:
        engine.dispose()


def timestamps(url: str) -> list[tuple[int, int, int]]:
    rows = _query(
        url,
        "SELECT created_at, started_at_epoch_ms, completed_at FROM {table} "
        "WHERE queue_name = :q AND status = 'SUCCESS'",
    )
    return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]


def per_executor(url: str) -> list[int]:
    rows = _query(url, "SELECT count(*) FROM {table} WHERE queue_name = :q GROUP BY executor_id")
    return sorted(int(r[0]) for r in rows)
