"""Message-to-resume latency: one process, many workflows waiting in ``recv``.

    python -m bench.messages                       # Postgres at TETHER_TEST_DATABASE_URL
    python -m bench.messages --db sqlite -n 100

Starts N sync workflows that each wait in ``tether.recv``, then sends each one a message
from ``app.send`` in turn and measures, per message, the time from the send call to the
addressee's ``recv`` returning, and how many message queries the process ran per send.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import threading
import time
import uuid
from typing import Any

from sqlalchemy import event

import tether
from tether import Tether

from .common import fresh_sqlite_file, quiet_logs


def run(n: int, url: str) -> dict[str, Any]:
    app = Tether(
        app_name=f"bmsg{uuid.uuid4().hex[:8]}",
        database_url=url,
        version="v1",
        max_workflows=n + 8,
        install_signal_handlers=False,
    )
    resumed: dict[str, float] = {}
    done = threading.Event()

    @app.workflow(name="inbox")
    def inbox() -> None:
        tether.recv(timeout=600)
        resumed[tether.workflow_id()] = time.perf_counter()
        if len(resumed) == n:
            done.set()

    app.launch()
    reads = [0]
    pattern = re.compile(r"^SELECT tether_messages\.id")

    def count(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        if pattern.match(statement):
            reads[0] += 1

    event.listen(app.store.db.engine, "before_cursor_execute", count)
    ids = [app.start_workflow(inbox).workflow_id for _ in range(n)]
    while reads[0] < n:
        time.sleep(0.01)
    time.sleep(0.2)
    reads[0] = 0
    latencies = []
    for wid in ids:
        sent = time.perf_counter()
        app.send(wid, "go")
        while wid not in resumed:
            time.sleep(0.0002)
        latencies.append((resumed[wid] - sent) * 1000)
    done.wait(30)
    queries = reads[0]
    app.shutdown()
    latencies.sort()
    return {
        "p50_ms": statistics.median(latencies),
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))],
        "message_queries_per_send": queries / n,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=100, help="waiting workflows (100)")
    ap.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    args = ap.parse_args()
    quiet_logs()
    if args.db == "postgres":
        url = os.environ.get("TETHER_TEST_DATABASE_URL")
        if not url:
            raise SystemExit("set TETHER_TEST_DATABASE_URL")
        result = run(args.n, url)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = run(args.n, "sqlite:///" + fresh_sqlite_file(tmp, "messages"))
    print(f"{args.db}, {args.n} waiters: " + ", ".join(f"{k} {v:.2f}" for k, v in result.items()))


if __name__ == "__main__":
    main()
