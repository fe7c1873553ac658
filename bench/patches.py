"""Patch gates and replay: what a gate costs a workflow, and how fast histories replay.

    python -m bench.patches                   # SQLite and Postgres, full sizes
    python -m bench.patches --quick --db sqlite

Figures, per database:

- ``patch() first call``: a gate meeting an empty position, which records a marker (queued
  for the next group commit, so the call does not wait for it), per call;
- ``patch() memoized``: the same gate asked again in the same run, per call;
- ``patch() on replay``: a gate meeting its marker in recorded history, per call;
- ``workflow +1 patch``: median latency of a 3-step workflow with one gate, next to the same
  workflow without it (the marker's real cost, commit included);
- ``replay from database`` / ``replay from files``: recorded 5-step workflows replayed per
  second by ``Replayer.replay_many`` (reading histories in batches) and by ``replay_all`` on
  exported histories (no database at all).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from typing import Any

from tether.versioning.history_io import WorkflowHistory
from tether.versioning.replay import Replayer

import tether
from tether import Tether

from .common import drop_pg_database, fresh_pg_database, fresh_sqlite_file

SIZES = {
    "full": {"gates": 2000, "memo": 200_000, "latency": 200, "replay": 1000},
    "quick": {"gates": 300, "memo": 20_000, "latency": 40, "replay": 200},
}


def build(url: str, version: str = "v1") -> Tether:
    app = Tether(
        app_name="bench-patches",
        database_url=url,
        version=version,
        install_signal_handlers=False,
        recovery_interval=60.0,
    )

    @app.step(name="work")
    def work(i: int) -> int:
        return i + 1

    @app.workflow(name="gates")
    def gates(n: int) -> float:
        started = time.perf_counter()
        for i in range(n):
            tether.patch(f"gate-{i}")
        return time.perf_counter() - started

    @app.workflow(name="memo")
    def memo(n: int) -> float:
        tether.patch("once")
        started = time.perf_counter()
        for _ in range(n):
            tether.patch("once")
        return time.perf_counter() - started

    @app.workflow(name="plain")
    def plain() -> int:
        return work(work(work(0)))

    @app.workflow(name="patched")
    def patched() -> int:
        x = work(0)
        if tether.patch("fees"):
            x = work(x)
        return work(x)

    @app.workflow(name="five")
    def five(k: int) -> int:
        x = k
        for _ in range(4):
            x = work(x)
        if tether.patch("five-fees"):
            x = work(x)
        return x

    return app


def _median_latencies(app: Tether, names: list[str], n: int) -> dict[str, float]:
    """Median latency of each workflow, runs interleaved so drift hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(n):
        for name in names:
            started = time.perf_counter()
            app.start_workflow(name).result(timeout=30)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(t) for name, t in times.items()}


def run(url: str, size: dict[str, int]) -> dict[str, Any]:
    app = build(url).launch()
    try:
        out: dict[str, Any] = {}
        n = size["gates"]
        elapsed = app.start_workflow("gates", n, workflow_id="gates").result(timeout=120)
        out["patch() first call"] = elapsed / n
        m = size["memo"]
        out["patch() memoized"] = app.start_workflow("memo", m).result(timeout=120) / m

        code = build(url, "v2")
        empty_history = WorkflowHistory.from_store(app.store, "gates")
        full = Replayer(code)
        started = time.perf_counter()
        assert full.replay_history(empty_history).passed
        with_gates = time.perf_counter() - started
        out["patch() on replay"] = with_gates / n

        _median_latencies(app, ["plain", "patched"], 5)  # warm up
        latency = _median_latencies(app, ["plain", "patched"], size["latency"])
        out["workflow, no patch"] = latency["plain"]
        out["workflow +1 patch"] = latency["patched"]

        w = size["replay"]
        handles = [app.start_workflow("five", i) for i in range(w)]
        for h in handles:
            h.result(timeout=120)
        started = time.perf_counter()
        results = full.replay_many(name="five")
        db_elapsed = time.perf_counter() - started
        assert len(results) == w and all(r.passed for r in results)
        out["replay from database"] = w / db_elapsed
        histories = list(full.histories(full.select(name="five")))
        started = time.perf_counter()
        assert all(r.passed for r in full.replay_all(histories))
        out["replay from files"] = w / (time.perf_counter() - started)
        out["positions per workflow"] = results[0].positions_replayed
        return out
    finally:
        app.shutdown(grace=1.0)
        app.store.close()


def _show(db: str, figures: dict[str, Any]) -> None:
    print(f"\n{db}")
    for key, value in figures.items():
        if key.startswith("patch()"):
            shown = f"{value * 1e6:9.2f} µs/call"
        elif key.startswith("workflow"):
            shown = f"{value * 1e3:9.2f} ms median"
        elif key.startswith("replay"):
            shown = f"{value:9.0f} workflows/s"
        else:
            shown = f"{value:9}"
        print(f"  {key:<24}{shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    size = SIZES["quick" if args.quick else "full"]
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            _show("sqlite", run("sqlite:///" + fresh_sqlite_file(tmp, "patches"), size))
    if args.db in ("postgres", "both"):
        name = f"tether_patches_{os.getpid()}"
        try:
            _show("postgres", run(fresh_pg_database(name), size))
        finally:
            drop_pg_database(name)


if __name__ == "__main__":
    main()
