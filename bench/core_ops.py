"""What each durable operation costs: ``python -m bench.core_ops --db both [--quick]``.

Inside a workflow, an operation's cost is the marginal cost over an empty workflow, divided
by the number of operations (each runs OPS times per workflow). Outside a workflow, it is
the cost per call. All through the public API; the commit floor is printed alongside.
Besides time, the SQL statements and COMMITs issued per operation are counted: they do not
depend on machine load, and on Postgres each statement is one network round trip.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import event

import tether
from tether import Tether

from .common import (
    RESULT_PREFIX,
    Timer,
    drop_pg_database,
    emit,
    fresh_pg_database,
    fresh_sqlite_file,
    quiet_logs,
    run_db_name,
)
from .floor import measure

OPS = 10


def build(url: str) -> tuple[Tether, dict[str, Callable[..., Any]]]:
    app = Tether(
        app_name="bench_core",
        database_url=url,
        version="bench-v1",
        install_signal_handlers=False,
    )

    @app.step()
    def noop() -> None:
        return None

    @app.workflow()
    def empty() -> None:
        return None

    @app.workflow()
    def steps() -> None:
        for _ in range(OPS):
            noop()

    @app.workflow()
    def sleeps() -> None:
        for _ in range(OPS):
            tether.sleep(0)

    @app.workflow()
    def send_recv() -> None:
        me = tether.workflow_id()
        for i in range(OPS):
            tether.send(me, i)
            tether.recv(timeout=5)

    @app.workflow()
    def events() -> None:
        for i in range(OPS):
            tether.set_event(f"k{i}", i)

    @app.workflow()
    def children() -> None:
        for _ in range(OPS):
            empty()

    return app, {
        "empty": empty,
        "step": steps,
        "sleep(0)": sleeps,
        "send+recv (pair)": send_recv,
        "set_event": events,
        "child workflow (direct call)": children,
    }


class SqlCounter:
    """Counts SQL statements and COMMITs the app issues, except its executor loop's."""

    def __init__(self, engine: Any) -> None:
        self.statements = 0
        self.commits = 0
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    @staticmethod
    def _counted() -> bool:
        return threading.current_thread().name != "tether-executor"

    def _statement(self, *args: Any) -> None:
        if self._counted():
            self.statements += 1

    def _commit(self, conn: Any) -> None:
        if self._counted() and conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            self.commits += 1

    def snapshot(self) -> tuple[int, int]:
        return self.statements, self.commits


def run(url: str, n: int) -> dict[str, Any]:
    """label -> [µs, SQL statements, COMMITs] per operation."""
    app, wfs = build(url)
    app.launch()
    sql = SqlCounter(app.store.db.engine)
    out: dict[str, list[float]] = {}
    try:
        for wf in wfs.values():  # warm-up: first statements compiled, pools filled
            wf()
        # Each op workflow is timed interleaved with an empty one, so that load from
        # elsewhere on the machine hits both alike; the difference is the operations' cost.
        empty = wfs["empty"]
        base = [0.0, 0.0, 0.0]
        for label, wf in wfs.items():
            if label == "empty":
                continue
            e = [0.0, 0.0, 0.0]
            o = [0.0, 0.0, 0.0]
            for _ in range(n):
                for fn, acc in ((empty, e), (wf, o)):
                    s0, c0 = sql.snapshot()
                    with Timer() as t:
                        fn()
                    s1, c1 = sql.snapshot()
                    acc[0] += t.elapsed * 1e6
                    acc[1] += s1 - s0
                    acc[2] += c1 - c0
            base = [b + x for b, x in zip(base, e, strict=True)]
            out[f"{label} (in workflow)"] = [(a - b) / n / OPS for a, b in zip(o, e, strict=True)]
        per_wf = [b / n / (len(wfs) - 1) for b in base]
        out = {"empty workflow (per workflow)": per_wf, **out}
        wid = app.start_workflow(wfs["empty"]).workflow_id
        app.retrieve_workflow(wid).result(timeout=30)
        outside: dict[str, Callable[[], Any]] = {
            "start_workflow + result (empty)": lambda: app.start_workflow(wfs["empty"]).result(
                timeout=30
            ),
            "app.get_workflow": lambda: app.get_workflow(wid),
            "app.list_steps": lambda: app.list_steps(wid),
            "app.send (outside)": lambda: app.send(wid, 1),
            "app.get_event (absent, timeout=0)": lambda: app.get_event(wid, "missing", timeout=0),
        }
        for label, fn in outside.items():
            fn()
            s0, c0 = sql.snapshot()
            with Timer() as t:
                for _ in range(n):
                    fn()
            s1, c1 = sql.snapshot()
            out[label] = [t.elapsed / n * 1e6, (s1 - s0) / n, (c1 - c0) / n]
        out["floor: INSERT+COMMIT (driver)"] = [measure(url, 200), 1, 1]
    finally:
        app.shutdown(grace=1.0)
        app.store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.core_ops")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--url", help=argparse.SUPPRESS)  # child mode: one database
    args = parser.parse_args()
    n = 50 if args.quick else 200
    quiet_logs()
    if args.url:
        emit(run(args.url, n))
        return
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="tether-core-") as tmp:
        for db in dbs:
            url = (
                "sqlite:///" + fresh_sqlite_file(tmp, "core")
                if db == "sqlite"
                else fresh_pg_database(run_db_name("tether"))
            )
            cmd = [sys.executable, "-m", "bench.core_ops", "--url", url]
            cmd += ["--quick"] if args.quick else []
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            finally:
                if db == "postgres":
                    drop_pg_database(run_db_name("tether"))
            line = next(x for x in proc.stdout.splitlines() if x.startswith(RESULT_PREFIX))
            results[db] = json.loads(line[len(RESULT_PREFIX) :])
    labels = list(next(iter(results.values())))
    width = max(len(x) for x in labels)
    head = "".join(f"  {db + ' µs':>12} {'stmts':>6} {'commits':>7}" for db in dbs)
    print(f"{'per operation':{width}}{head}")
    for label in labels:
        cells = "".join(
            f"  {r[0]:12,.0f} {r[1]:6.1f} {r[2]:7.1f}" for r in (results[db][label] for db in dbs)
        )
        print(f"{label:{width}}{cells}")


if __name__ == "__main__":
    main()
