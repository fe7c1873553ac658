"""Idle cost of durable waits: N async workflows asleep in one executor.

    python -m bench.idle_sleepers                 # 10,000 sleepers on Postgres, 30 s idle
    python -m bench.idle_sleepers -n 2000 --idle 10 --db sqlite

Starts N async workflows that each call ``await tether.sleep_async(3600)``, waits until every
one has recorded its sleep, then measures the process while nothing is due: CPU (% of one
core, all threads) over the idle window and resident memory. A wait that polls costs CPU
per sleeper; a wait on a notification costs none until something happens.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from typing import Any

import tether
from tether import Tether

from .common import drop_pg_database, fresh_pg_database, fresh_sqlite_file, quiet_logs


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def run(n: int, idle: float, url: str) -> dict[str, Any]:
    app = Tether(
        app_name="idle",
        database_url=url,
        version="bench-v1",
        install_signal_handlers=False,
        max_workflows=max(128, n + 16),
    )

    @app.workflow()
    async def sleeper(i: int) -> int:
        await tether.sleep_async(3600)
        return i

    app.launch()
    rss_before = _rss_mb()
    started = time.perf_counter()
    for i in range(n):
        app.start_workflow(sleeper, i)
    store = app.store
    while True:
        with store.db.engine.connect() as conn:
            from sqlalchemy import text

            asleep = conn.execute(
                text("SELECT count(*) FROM tether_operations WHERE kind = 'sleep'")
            ).scalar_one()
        if asleep >= n:
            break
        time.sleep(0.5)
    ramp = time.perf_counter() - started
    time.sleep(2.0)  # let the start-up settle
    cpu0, wall0 = _cpu(), time.perf_counter()
    time.sleep(idle)
    cpu1, wall1 = _cpu(), time.perf_counter()
    result = {
        "sleepers": n,
        "start_s": round(ramp, 1),
        "idle_cpu_pct": round(100 * (cpu1 - cpu0) / (wall1 - wall0), 1),
        "rss_mb": round(_rss_mb(), 1),
        "rss_per_sleeper_kb": round((_rss_mb() - rss_before) * 1024 / n, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "threads": len(os.listdir("/proc/self/task")),
    }
    app.shutdown(grace=0.5)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10_000, help="sleeping workflows (10,000)")
    ap.add_argument("--idle", type=float, default=30.0, help="seconds measured idle (30)")
    ap.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    args = ap.parse_args()
    quiet_logs()
    if args.db == "postgres":
        name = f"tether_idle_{os.getpid()}"
        url = fresh_pg_database(name)
        try:
            result = run(args.n, args.idle, url)
        finally:
            drop_pg_database(name)
    else:
        with tempfile.TemporaryDirectory() as d:
            result = run(args.n, args.idle, "sqlite:///" + fresh_sqlite_file(d, "idle"))
    width = max(len(k) for k in result)
    print(f"{args.db}, {args.n} async workflows in tether.sleep_async(3600):")
    for k, v in result.items():
        print(f"  {k:<{width}}  {v}")


if __name__ == "__main__":
    main()
