"""Message-to-resume latency with the sender in another process, tether beside DBOS.

    python -m bench wake                          # 1,000 waiters, SQLite and Postgres
    python -m bench wake -n 200 --db sqlite --no-dbos

For each database and each way of waiting, a waiter process starts ``n`` sync workflows that
wait in ``recv("go")``; this process (the sender: not an executor, like a Client or the
CLI) sends each one a message carrying the send time, one every ``--gap`` seconds. The
workflow returns the time from that send to its ``recv`` returning, on the same clock.

- tether held: ``suspend_after=None``, every wait in memory (a thread each);
- tether suspended: suspended once they waited 0.2 s; the message wakes the row and an
  executor claims it and replays it to the recv;
- tether suspended, 100 steps: the same with 100 steps before the recv (what replaying a
  long history adds to a resume), against 0 steps;
- dbos: ``DBOS.recv`` in a DBOS process, ``DBOSClient.send`` from this one.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from .common import (
    drop_pg_database,
    fresh_pg_database,
    fresh_sqlite_file,
    latency_ms,
    quiet_logs,
    register_inbox,
    run_db_name,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = "bench_wake"


# -- the waiting process ----------------------------------------------------------------------


def tether_waiter(url: str, n: int, mode: str, steps: int) -> None:
    from tether import Tether

    app = Tether(
        app_name=APP,
        database_url=url,
        version="v1",
        max_workflows=n + 16,
        install_signal_handlers=False,
        suspend_after=None if mode == "held" else 0.2,
    )

    register_inbox(app)

    app.launch()
    for i in range(n):
        app.start_workflow("inbox", steps, workflow_id=f"w{i}")
    print("STARTED", flush=True)
    while True:
        time.sleep(1)


def dbos_waiter(url: str, n: int) -> None:
    from dbos import DBOS

    @DBOS.workflow()
    def inbox() -> float:
        sent = DBOS.recv("go", timeout_seconds=3600)
        return time.time() * 1000 - float(sent)

    DBOS(config={"name": APP, "system_database_url": url, "log_level": "ERROR"})
    DBOS.launch()
    for i in range(n):
        from dbos import SetWorkflowID

        with SetWorkflowID(f"w{i}"):
            DBOS.start_workflow(inbox)
    print("STARTED", flush=True)
    while True:
        time.sleep(1)


# -- the sender (this process) ----------------------------------------------------------------


def _ready(url: str, n: int, mode: str) -> bool:
    """Every waiter is in its recv: suspended, or (held) started with no message taken."""
    from sqlalchemy import func, select
    from tether.runtime.store.schema import workflows as W

    from tether import Tether

    app = Tether(app_name=APP, database_url=url, version="obs", install_signal_handlers=False)
    want = "SUSPENDED" if mode != "held" else "PENDING"
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            with app.store.db.read() as conn:
                got = conn.execute(
                    select(func.count()).where(W.c.app_name == APP, W.c.status == want)
                ).scalar_one()
            if got >= n:
                return True
            time.sleep(0.2)
        return False
    finally:
        app.store.close()


def measure(engine: str, url: str, n: int, mode: str, steps: int, gap: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.wake", "--role", engine, "--url", url, "-n", str(n)]
    cmd += ["--mode", mode, "--steps", str(steps)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "STARTED":
            raise SystemExit(f"{engine} waiter failed to start")
        if engine == "tether":
            if not _ready(url, n, mode):
                raise SystemExit("waiters did not all wait in time")
            time.sleep(2.0 if mode == "held" else 0.5)  # held: until each is inside recv
            return {**latency_ms(_tether_send(url, n, gap)), "n": n}
        time.sleep(max(5.0, n / 200))  # DBOS: until each is inside recv
        return {**latency_ms(_dbos_send(url, n, gap)), "n": n}
    finally:
        proc.kill()
        proc.wait()


def _tether_send(url: str, n: int, gap: float) -> list[float]:
    from tether import Client

    with Client(url, APP) as client:
        for i in range(n):
            client.send(f"w{i}", time.time() * 1000, topic="go")
            time.sleep(gap)
        return [client.retrieve_workflow(f"w{i}").result(timeout=120) for i in range(n)]


def _dbos_send(url: str, n: int, gap: float) -> list[float]:
    from dbos import DBOSClient

    client = DBOSClient(system_database_url=url)
    try:
        for i in range(n):
            client.send(f"w{i}", time.time() * 1000, topic="go")
            time.sleep(gap)
        return [client.retrieve_workflow(f"w{i}").get_result() for i in range(n)]
    finally:
        client.destroy()


CASES = [  # (engine, mode, prior steps)
    ("tether", "held", 0),
    ("tether", "suspended", 0),
    ("tether", "suspended", 100),
    ("dbos", "held", 0),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench wake", description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=1000, help="waiting workflows (1,000)")
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--gap", type=float, default=0.01, help="seconds between sends (0.01)")
    ap.add_argument("--no-dbos", action="store_true")
    ap.add_argument("--role", choices=["tether", "dbos"], help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="held", help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    quiet_logs()
    if args.role == "tether":
        tether_waiter(args.url, args.n, args.mode, args.steps)
    elif args.role == "dbos":
        dbos_waiter(args.url, args.n)
    dbos = not args.no_dbos and importlib.util.find_spec("dbos") is not None
    rows = []
    with tempfile.TemporaryDirectory(prefix="tether-wake-") as tmp:
        for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
            for engine, mode, steps in CASES:
                if engine == "dbos" and not dbos:
                    continue
                # Replay cost: fewer waiters, each resumed through 100 steps of history.
                n = args.n if steps == 0 else max(20, args.n // 10)
                name = f"{engine}_{mode}_{steps}"
                if db == "sqlite":
                    url = "sqlite:///" + fresh_sqlite_file(tmp, name)
                else:
                    url = fresh_pg_database(run_db_name(engine))
                try:
                    result = measure(engine, url, n, mode, steps, args.gap)
                finally:
                    if db == "postgres":
                        drop_pg_database(run_db_name(engine))
                label = f"{engine} {mode}" + (f", {steps} prior steps" if steps else "")
                rows.append((db, label, result))
                print(f"{db:8} {label:34} {json.dumps(result)}", flush=True)
    print("\n| database | waiting | n | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|")
    for db, label, r in rows:
        print(f"| {db} | {label} | {r['n']} | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
