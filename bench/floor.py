"""The commit floor: one small INSERT + COMMIT in a loop, straight through the driver.

This is what one durable write costs on this machine and database before any framework:
psycopg 3 for Postgres, sqlite3 with tether's pragmas (WAL, synchronous=FULL,
``BEGIN IMMEDIATE``) for SQLite. Per-step overhead is judged against it. On Postgres a
transaction is three round trips (BEGIN, INSERT, COMMIT); the same INSERT in autocommit
mode, one round trip and equally durable, is reported beside it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from .common import SIZES, Timer, emit, sqlite_connect_like_tether

WARMUP = 20


def floor_sqlite(path: str, n: int) -> float:
    conn = sqlite_connect_like_tether(path)
    conn.execute("CREATE TABLE IF NOT EXISTS floor (id INTEGER PRIMARY KEY, v TEXT, t INTEGER)")

    def one(i: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO floor (v, t) VALUES (?, ?)", (f"row-{i}", time.time_ns()))
        conn.execute("COMMIT")

    for i in range(WARMUP):
        one(i)
    with Timer() as t:
        for i in range(n):
            one(i)
    conn.close()
    return t.elapsed


def floor_postgres(url: str, n: int, *, autocommit: bool = False) -> float:
    """BEGIN, INSERT, COMMIT per row; ``autocommit``: the INSERT alone (one round trip)."""
    import psycopg

    with psycopg.connect(url, autocommit=autocommit) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS floor (id BIGSERIAL PRIMARY KEY, v TEXT, t BIGINT)"
        )
        conn.commit()

        def one(i: int) -> None:
            conn.execute("INSERT INTO floor (v, t) VALUES (%s, %s)", (f"row-{i}", time.time_ns()))
            conn.commit()

        for i in range(WARMUP):
            one(i)
        with Timer() as t:
            for i in range(n):
                one(i)
    return t.elapsed


def measure(url: str, n: int) -> float:
    """µs per commit on the database at ``url`` (SQLite: a sibling file of it)."""
    if url.startswith("sqlite:///"):
        elapsed = floor_sqlite(url[len("sqlite:///") :] + ".floor", n)
    else:
        elapsed = floor_postgres(url, n)
    return elapsed / n * 1e6


def measure_autocommit(url: str, n: int) -> float | None:
    """µs per autocommit INSERT on Postgres (one round trip); None on SQLite."""
    if url.startswith("sqlite:"):
        return None
    return floor_postgres(url, n, autocommit=True) / n * 1e6


def around(url: str, n: int, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``run()``'s figures plus the floors measured just before and after it (averaged)."""
    before = measure(url, n), measure_autocommit(url, n)
    out = run()
    after = measure(url, n), measure_autocommit(url, n)
    out["floor_us"] = (before[0] + after[0]) / 2
    if before[1] is not None and after[1] is not None:
        out["us_per_autocommit_insert"] = (before[1] + after[1]) / 2
    return out


def run(url: str, size: str) -> dict[str, Any]:
    n = SIZES[size]["floor"]
    out: dict[str, Any] = {"n": n, "us_per_commit": measure(url, n)}
    if not url.startswith("sqlite:"):
        out["us_per_autocommit_insert"] = floor_postgres(url, n, autocommit=True) / n * 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--size", default="full", choices=sorted(SIZES))
    args = parser.parse_args()
    emit({"engine": "floor", "workload": "floor", **run(args.url, args.size)})


if __name__ == "__main__":
    main()
