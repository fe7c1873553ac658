"""The same W1, W2, W3, W5 on DBOS (the ``bench`` extra), one workload per process.

DBOS is a process-wide singleton, which is why each workload runs in its own process.
DBOS runs with its defaults (no durability setting touched): on SQLite that is its default
rollback journal with ``synchronous=FULL``; on Postgres, the server's defaults.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from dbos import DBOS

from .common import SIZES, Timer, emit, quiet_logs
from .floor import around

PAYLOAD_UNIT = "x" * 1024
_BIG = {"value": ""}


@DBOS.step()
def trivial(i: int) -> int:
    return i


@DBOS.workflow()
def empty() -> None:
    return None


@DBOS.workflow()
def stepped(n: int) -> int:
    total = 0
    for i in range(n):
        total += trivial(i)
    return total


@DBOS.workflow()
def large() -> str:
    return _BIG["value"]


def w1(n: int, warmup: int) -> dict[str, Any]:
    for _ in range(warmup):
        empty()
    with Timer() as t:
        for _ in range(n):
            empty()
    return {
        "n": n,
        "seconds": t.elapsed,
        "us_per_wf": t.elapsed / n * 1e6,
        "wf_per_s": n / t.elapsed,
    }


def w2(url: str, n: int, steps: int, warmup: int) -> dict[str, Any]:
    for _ in range(warmup):
        empty()
        stepped(steps)

    def timed() -> dict[str, Any]:
        # Interleaved with empty workflows, so that outside load hits both alike.
        base_s = step_s = 0.0
        for _ in range(n):
            with Timer() as base:
                empty()
            base_s += base.elapsed
            with Timer() as t:
                assert stepped(steps) == steps * (steps - 1) // 2
            step_s += t.elapsed
        total_steps = n * steps
        return {
            "n": n,
            "steps": steps,
            "seconds": step_s,
            "baseline_us_per_wf": base_s / n * 1e6,
            "us_per_step_total": step_s / total_steps * 1e6,
            "us_per_step_marginal": (step_s - base_s) / total_steps * 1e6,
        }

    # The commit floors on the same disk and database, measured around the timed run.
    return around(url, SIZES["quick"]["floor"], timed)


def w3(n: int, steps: int, warmup: int) -> dict[str, Any]:
    for h in [DBOS.start_workflow(stepped, steps) for _ in range(warmup)]:
        h.get_result()
    with Timer() as t:
        handles = [DBOS.start_workflow(stepped, steps) for _ in range(n)]
        started = time.perf_counter() - t.start
        for h in handles:
            assert h.get_result() == steps * (steps - 1) // 2
    return {
        "n": n,
        "steps": steps,
        "seconds": t.elapsed,
        "start_seconds": started,
        "wf_per_s": n / t.elapsed,
    }


def w5(n: int, kb: int, warmup: int) -> dict[str, Any]:
    for _ in range(warmup):
        large()
    with Timer() as t:
        for _ in range(n):
            assert len(large()) == kb * 1024
    return {"n": n, "kb": kb, "seconds": t.elapsed, "wf_per_s": n / t.elapsed}


def run(workload: str, url: str, size: str) -> dict[str, Any]:
    sz = SIZES[size]
    _BIG["value"] = PAYLOAD_UNIT * sz["W5_kb"]
    DBOS(
        config={
            "name": f"bench_{workload.lower()}",
            "system_database_url": url,
            "log_level": "WARNING",
        }
    )
    DBOS.launch()
    try:
        warm = sz["warmup"]
        if workload == "W1":
            return w1(sz["W1"], warm)
        if workload == "W2":
            return w2(url, sz["W2"], sz["W2_steps"], warm)
        if workload == "W3":
            return w3(sz["W3"], sz["W3_steps"], warm)
        if workload == "W5":
            return w5(sz["W5"], sz["W5_kb"], warm)
        raise SystemExit(f"unknown workload {workload}")
    finally:
        DBOS.destroy(destroy_registry=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--size", default="full", choices=sorted(SIZES))
    args = parser.parse_args()
    quiet_logs()
    out = run(args.workload, args.url, args.size)
    emit({"engine": "dbos", "workload": args.workload, **out})


if __name__ == "__main__":
    main()
