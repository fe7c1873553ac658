"""tether's side of Q1/Q2 (see bench/queues.py): worker, enqueue, and timestamps."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select
from tether.runtime.store import Store
from tether.runtime.store.schema import workflows as W

from tether import Client, Tether

from .queues import APP, QUEUE, serve_until_signalled

VERSION = "bench-v1"


def build(url: str) -> Tether:
    app = Tether(app_name=APP, database_url=url, version=VERSION, install_signal_handlers=False)

    @app.step()
    def trivial(i: int) -> int:
        return i

    @app.workflow(name="one_step")
    def one_step(i: int) -> int:
        return trivial(i)

    @app.step()
    def clock() -> float:
        return time.time()

    @app.workflow(name="stamped")
    def stamped(i: int) -> float:
        return clock()

    app.queue(QUEUE)
    return app


def worker(url: str) -> None:
    app = build(url).launch()
    try:
        serve_until_signalled()
    finally:
        app.shutdown(grace=1.0)


def setup(url: str) -> None:
    """Create the schema and the version (so enqueues route to it) without an executor."""
    store = Store(url, APP)
    try:
        store.migrate()
        store.versions.seen(VERSION)
        store.versions.ensure_current(VERSION)
    finally:
        store.close()


def enqueue_backlog(url: str, n: int) -> None:
    """All N in one transaction of the caller's (the transactional enqueue)."""
    with Client(url, APP) as client:
        q = client.queue(QUEUE)
        with client.store.db.engine.begin() as conn:
            for i in range(n):
                q.enqueue("one_step", i, connection=conn)


class Enqueuer:
    def __init__(self, url: str) -> None:
        self.client = Client(url, APP, poll_interval=0.001)

    def __enter__(self) -> Enqueuer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def run_one(self, i: int) -> float:
        """Milliseconds from just before the enqueue to the start of the workflow's step."""
        before = time.time()
        started = self.client.enqueue(QUEUE, "stamped", i).result(timeout=60)
        return (started - before) * 1000


def progress_table(url: str) -> tuple[str, str]:
    """For bench.queues.Progress: the table of this engine's workflows, and a filter."""
    return ("tether_workflows", f"AND app_name = '{APP}'")


def _where() -> Any:
    return (W.c.app_name == APP, W.c.queue_name == QUEUE)


def timestamps(url: str) -> list[tuple[int, int, int]]:
    store = Store(url, APP)
    try:
        with store.db.read() as conn:
            rows = conn.execute(
                select(W.c.created_at, W.c.started_at, W.c.completed_at).where(
                    *_where(), W.c.status == "SUCCESS"
                )
            ).all()
        return [(r[0], r[1], r[2]) for r in rows]
    finally:
        store.close()


def per_executor(url: str) -> list[int]:
    store = Store(url, APP)
    try:
        with store.db.read() as conn:
            rows = conn.execute(
                select(func.count()).where(*_where()).group_by(W.c.executor_id)
            ).all()
        return sorted(int(r[0]) for r in rows)
    finally:
        store.close()
