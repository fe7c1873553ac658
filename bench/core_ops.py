"""What each durable operation costs: ``python -m bench.core_ops --db both [--quick]``.

Inside a workflow, an operation's cost is the marginal time over an empty workflow, divided
by the number of operations (each runs OPS times per workflow). Outside a workflow, it is
the time per call. All through the public API; the commit floor is printed alongside.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import tether
from tether import Tether

from .common import (
    RESULT_PREFIX,
    Timer,
    emit,
    fresh_pg_database,
    fresh_sqlite_file,
    quiet_logs,
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


def run(url: str, n: int) -> dict[str, Any]:
    app, wfs = build(url)
    app.launch()
    out: dict[str, float] = {}
    try:
        for wf in wfs.values():  # warm-up: first statements compiled, pools filled
            wf()
        # Each op workflow is timed interleaved with an empty one, so that load from
        # elsewhere on the machine hits both alike; the difference is the operations' cost.
        empty = wfs["empty"]
        base_total = 0.0
        for label, wf in wfs.items():
            if label == "empty":
                continue
            t_empty = t_ops = 0.0
            for _ in range(n):
                with Timer() as t:
                    empty()
                t_empty += t.elapsed
                with Timer() as t:
                    wf()
                t_ops += t.elapsed
            base_total += t_empty
            out[f"{label} (in workflow)"] = (t_ops - t_empty) / n / OPS * 1e6
        out = {"empty workflow (per workflow)": base_total / n / (len(wfs) - 1) * 1e6, **out}
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
            with Timer() as t:
                for _ in range(n):
                    fn()
            out[label] = t.elapsed / n * 1e6
        out["floor: INSERT+COMMIT"] = measure(url, 200)
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
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="tether-core-") as tmp:
        for db in dbs:
            url = (
                "sqlite:///" + fresh_sqlite_file(tmp, "core")
                if db == "sqlite"
                else fresh_pg_database("tether_bench")
            )
            cmd = [sys.executable, "-m", "bench.core_ops", "--url", url]
            cmd += ["--quick"] if args.quick else []
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            line = next(x for x in proc.stdout.splitlines() if x.startswith(RESULT_PREFIX))
            import json

            results[db] = json.loads(line[len(RESULT_PREFIX) :])
    labels = list(next(iter(results.values())))
    width = max(len(x) for x in labels)
    print(f"{'µs per operation':{width}}  " + "  ".join(f"{db:>9}" for db in dbs))
    for label in labels:
        print(f"{label:{width}}  " + "  ".join(f"{results[db][label]:9,.0f}" for db in dbs))


if __name__ == "__main__":
    main()
