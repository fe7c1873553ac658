"""W1, W2, W3, W5 on tether, one workload per process: ``python -m bench.tether_workloads``.

Timing starts after ``launch()`` and a short warm-up of the same shape, so migrations,
connection set-up and first-statement compilation are not counted (the same for DBOS).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from tether import Tether

from .common import SIZES, Timer, emit, quiet_logs
from .floor import around

PAYLOAD_UNIT = "x" * 1024


def make_app(url: str, name: str, **overrides: Any) -> Tether:
    options: dict[str, Any] = {
        "app_name": name,
        "database_url": url,
        "version": "bench-v1",
        "install_signal_handlers": False,
    }
    options.update(overrides)
    return Tether(**options)


def build(url: str, name: str, kb: int = 100) -> tuple[Tether, dict[str, Any]]:
    app = make_app(url, name)

    @app.step()
    def trivial(i: int) -> int:
        return i

    @app.workflow()
    def empty() -> None:
        return None

    @app.workflow()
    def stepped(n: int) -> int:
        total = 0
        for i in range(n):
            total += trivial(i)
        return total

    big = PAYLOAD_UNIT * kb

    @app.workflow()
    def large() -> str:
        return big

    return app, {"empty": empty, "stepped": stepped, "large": large}


def w1(wf: dict[str, Any], n: int, warmup: int) -> dict[str, Any]:
    for _ in range(warmup):
        wf["empty"]()
    with Timer() as t:
        for _ in range(n):
            wf["empty"]()
    return {
        "n": n,
        "seconds": t.elapsed,
        "us_per_wf": t.elapsed / n * 1e6,
        "wf_per_s": n / t.elapsed,
    }


def w2(wf: dict[str, Any], url: str, n: int, steps: int, warmup: int) -> dict[str, Any]:
    for _ in range(warmup):
        wf["empty"]()
        wf["stepped"](steps)

    def timed() -> dict[str, Any]:
        # Interleaved with empty workflows, so that outside load hits both alike.
        base_s = step_s = 0.0
        for _ in range(n):
            with Timer() as base:
                wf["empty"]()
            base_s += base.elapsed
            with Timer() as t:
                assert wf["stepped"](steps) == steps * (steps - 1) // 2
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


def w3(app: Tether, wf: dict[str, Any], n: int, steps: int, warmup: int) -> dict[str, Any]:
    for h in [app.start_workflow(wf["stepped"], steps) for _ in range(warmup)]:
        h.result(timeout=60)
    with Timer() as t:
        handles = [app.start_workflow(wf["stepped"], steps) for _ in range(n)]
        started = time.perf_counter() - t.start
        for h in handles:
            assert h.result(timeout=600) == steps * (steps - 1) // 2
    return {
        "n": n,
        "steps": steps,
        "seconds": t.elapsed,
        "start_seconds": started,
        "wf_per_s": n / t.elapsed,
    }


def w5(wf: dict[str, Any], n: int, kb: int, warmup: int) -> dict[str, Any]:
    for _ in range(warmup):
        wf["large"]()
    with Timer() as t:
        for _ in range(n):
            assert len(wf["large"]()) == kb * 1024
    return {"n": n, "kb": kb, "seconds": t.elapsed, "wf_per_s": n / t.elapsed}


def run(workload: str, url: str, size: str) -> dict[str, Any]:
    sz = SIZES[size]
    app, wf = build(url, f"bench_{workload.lower()}", kb=sz["W5_kb"])
    app.launch()
    try:
        warm = sz["warmup"]
        if workload == "W1":
            out = w1(wf, sz["W1"], warm)
        elif workload == "W2":
            out = w2(wf, url, sz["W2"], sz["W2_steps"], warm)
        elif workload == "W3":
            out = w3(app, wf, sz["W3"], sz["W3_steps"], warm)
        elif workload == "W5":
            out = w5(wf, sz["W5"], sz["W5_kb"], warm)
        else:
            raise SystemExit(f"unknown workload {workload}")
    finally:
        app.shutdown(grace=1.0)
        app.store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--size", default="full", choices=sorted(SIZES))
    parser.add_argument("--profile", help="write a cProfile of the timed workload here")
    args = parser.parse_args()
    quiet_logs()
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
        out = run(args.workload, args.url, args.size)
        prof.disable()
        prof.dump_stats(args.profile)
    else:
        out = run(args.workload, args.url, args.size)
    emit({"engine": "tether", "workload": args.workload, **out})


if __name__ == "__main__":
    main()
