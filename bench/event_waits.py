"""What reading an event and waiting on another workflow cost.

    python -m bench.event_waits                    # Postgres at TETHER_TEST_DATABASE_URL
    python -m bench.event_waits --db sqlite -n 200

- read: a workflow that reads an event already set, ``--reads`` times, called directly:
  microseconds per read with a finite timeout (a recorded deadline, then the read) and
  with none (the read only).
- end-to-wake: ``-n`` parents suspended on a child each; each child is cancelled in turn
  (from the app, as an operator would); from the cancel call to the parent's end, p50 and
  p99. The wake comes from the commit that ended the child (see ``commit.note_ended``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from typing import Any

import tether
from tether import Tether

from .common import fresh_sqlite_file, quiet_logs


def _url(db: str) -> str:
    if db == "sqlite":
        return f"sqlite:///{fresh_sqlite_file(tempfile.mkdtemp(), 'event_waits')}"
    return os.environ.get("TETHER_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1/postgres")


def reads(url: str, count: int, rounds: int = 5) -> dict[str, float]:
    app = Tether(
        app_name=f"ev{uuid.uuid4().hex[:8]}",
        database_url=url,
        install_signal_handlers=False,
        suspend_after=None,
    )

    @app.workflow(name="reader")
    def reader(n: int, timeout: float | None) -> int:
        tether.set_event("k", 1)
        own = tether.workflow_id()
        return sum(int(app.get_event(own, "k", timeout=timeout)) for _ in range(n))

    app.launch()
    try:
        reader(5, 5.0)  # warm-up
        best: dict[str, float] = {}
        for _ in range(rounds):  # alternated, best of each
            for label, timeout in (("finite timeout", 5.0), ("no timeout", None)):
                began = time.perf_counter()
                reader(count, timeout)
                per = (time.perf_counter() - began) / count * 1e6
                best[label] = min(best.get(label, float("inf")), per)
        return best
    finally:
        app.shutdown()
        app.close()


def end_to_wake(url: str, n: int) -> dict[str, float]:
    app = Tether(
        app_name=f"ew{uuid.uuid4().hex[:8]}",
        database_url=url,
        install_signal_handlers=False,
        suspend_after=0.0,
    )

    @app.workflow(name="child")
    def child() -> Any:
        return tether.recv("never")

    @app.workflow(name="parent")
    def parent() -> str:
        try:
            child()
        except tether.WorkflowCancelledError:
            return "cancelled"
        return "done"

    app.launch()
    try:
        handles = [app.start_workflow("parent", workflow_id=f"p{i}") for i in range(n)]
        deadline = time.monotonic() + 120
        while True:
            waiting = [r for r in app.list_workflows(status="SUSPENDED", limit=2 * n + 10)]
            if len(waiting) == 2 * n:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(waiting)} of {2 * n} suspended")
            time.sleep(0.05)
        took: list[float] = []
        for i, h in enumerate(handles):
            began = time.perf_counter()
            app.cancel(f"p{i}-0")
            h.result(timeout=30)
            took.append((time.perf_counter() - began) * 1000)
        ordered = sorted(took)
        return {
            "p50_ms": statistics.median(ordered),
            "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        }
    finally:
        app.shutdown()
        app.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("-n", type=int, default=100, help="parents suspended on a child (100)")
    ap.add_argument("--reads", type=int, default=200, help="event reads per workflow (200)")
    args = ap.parse_args()
    quiet_logs()
    url = _url(args.db)
    for label, us in reads(url, args.reads).items():
        print(f"{args.db}: get_event in a workflow, {label}: {us:.0f} µs per read")
    wake = end_to_wake(url, args.n)
    print(
        f"{args.db}: cancel a child -> its suspended parent ends: "
        f"p50 {wake['p50_ms']:.1f} ms, p99 {wake['p99_ms']:.1f} ms (n={args.n})"
    )


if __name__ == "__main__":
    main()
