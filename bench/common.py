"""Shared plumbing for the bench: sizes, fresh databases, timing, result hand-off.

Every workload runs in its own subprocess (one engine, one database, one workload) and
prints one JSON line prefixed with ``RESULT `` that the runner collects.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from typing import Any

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RESULT_PREFIX = "RESULT "

# Full sizes follow the brief; --quick divides them so a run takes seconds.
SIZES: dict[str, dict[str, int]] = {
    "full": {
        "W1": 500,
        "W2": 200,
        "W2_steps": 10,
        "W3": 1000,
        "W3_steps": 3,
        "W4": 200,
        "W4_steps": 5,
        "W5": 100,
        "W5_kb": 100,
        "floor": 1000,
        "warmup": 20,
        "Q1": 5000,
        "Q2": 100,
    },
    "quick": {  # a smoke check: a few seconds per workload
        "W1": 50,
        "W2": 20,
        "W2_steps": 10,
        "W3": 100,
        "W3_steps": 3,
        "W4": 20,
        "W4_steps": 5,
        "W5": 10,
        "W5_kb": 100,
        "floor": 100,
        "warmup": 3,
        "Q1": 300,
        "Q2": 10,
    },
}


def run_db_name(engine: str) -> str:
    """This run's Postgres database for ``engine``: ``tether_bench_<pid>`` / ``dbos_bench_<pid>``.

    Unique per run, so two bench runs on one server never drop each other's database.
    """
    return f"{engine}_bench_{os.getpid()}"


def pg_url(dbname: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{dbname}"


def fresh_pg_database(dbname: str) -> str:
    """Drop and create ``dbname``; returns its URL."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{dbname}"')
    return pg_url(dbname)


def drop_pg_database(dbname: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def fresh_sqlite_file(directory: str, name: str) -> str:
    """A path for a new SQLite file (any leftovers, WAL included, removed)."""
    path = os.path.join(directory, f"{name}.db")
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass
    return path


def sqlite_connect_like_tether(path: str) -> sqlite3.Connection:
    """A sqlite3 connection with tether's durability pragmas (WAL, synchronous=FULL)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=60000")
    return conn


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start


def emit(result: dict[str, Any]) -> None:
    """Hand one workload's figures to the runner."""
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


def quiet_logs() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    for name in ("tether", "tether.executor", "dbos", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)


def latency_ms(values: list[float]) -> dict[str, float]:
    """p50, p99 and max of latencies in ms (nearest rank), rounded to 0.1 ms."""
    ordered = sorted(values)
    return {
        "p50_ms": round(ordered[len(ordered) // 2], 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
        "max_ms": round(ordered[-1], 1),
    }


def register_inbox(app: Any) -> None:
    """The latency benches' waiter: ``k`` steps, then a recv of "go" whose message carries
    the sender's clock (ms); it returns the message-to-resume latency in ms."""
    import tether

    @app.step()
    def step(i: int) -> int:
        return i

    @app.workflow(name="inbox")
    def inbox(k: int) -> float:
        for i in range(k):
            step(i)
        sent = tether.recv("go")
        return time.time() * 1000 - float(sent)
