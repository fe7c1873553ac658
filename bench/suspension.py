"""What waiting costs: suspended workflows on one executor, message-to-resume, replay cost.

    python -m bench.suspension --url postgresql://postgres@127.0.0.1:5432/mydb
    python -m bench.suspension --url sqlite:///w.db -n 2000 --latency 200
    python -m bench.suspension --url ... --engine dbos -n 1000   # the same on DBOS

Three measurements, each under its own app name (so a shared database is fine):

- idle: ``n`` sync workflows in ``recv`` plus ``n`` async ones in ``sleep_async(3600)`` on one
  executor, once all have suspended: CPU (% of one core, all threads) over ``--idle``
  seconds, RSS against the executor before any waited, threads, and the time a new short
  workflow (one step) takes to complete, with and without the waiters.
- latency: ``--latency`` sync workflows suspended in ``recv``; messages sent one at a time,
  ``--gap`` apart; from ``send`` to the moment the resumed ``recv`` returns, p50 and p99.
- replay: the same latency for workflows with ``--steps`` steps before the ``recv``, against
  none: the difference is what replaying the history costs a resume.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import tether
from tether import Tether

from .common import latency_ms, quiet_logs, register_inbox


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def idle_cost(measure_idle: float, short: Callable[[], Any]) -> dict[str, Any]:
    """CPU over an idle window, RSS, threads, and the short workflow's time (median of 20)."""
    time.sleep(2.0)  # let start-up work settle
    cpu0, wall0 = cpu_s(), time.perf_counter()
    time.sleep(measure_idle)
    cpu1, wall1 = cpu_s(), time.perf_counter()
    return {
        "idle_cpu_pct": round(100 * (cpu1 - cpu0) / (wall1 - wall0), 2),
        "rss_mb": round(rss_mb(), 1),
        "threads": len(os.listdir("/proc/self/task")),
        "short_wf_ms": short_ms(short),
    }


def short_ms(short: Callable[[], Any], n: int = 20) -> float:
    times = []
    for _ in range(n):
        began = time.perf_counter()
        short()
        times.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(times), 1)


# -- tether -----------------------------------------------------------------------------------


def make_app(url: str, grace: float, name: str) -> Tether:
    return Tether(
        app_name=f"{name}{uuid.uuid4().hex[:6]}",
        database_url=url,
        version="bench-v1",
        install_signal_handlers=False,
        suspend_after=grace,
    )


def suspended(app: Tether) -> int:
    from sqlalchemy import func, select
    from tether.runtime.store.schema import workflows as W

    with app.store.db.read() as conn:
        return int(
            conn.execute(
                select(func.count()).where(W.c.app_name == app.app_name, W.c.status == "SUSPENDED")
            ).scalar_one()
        )


def tether_idle(url: str, n: int, measure_idle: float, grace: float) -> dict[str, Any]:
    app = make_app(url, grace, "idle")

    @app.step()
    def one() -> int:
        return 1

    @app.workflow(name="short")
    def short() -> int:
        return one()

    @app.workflow(name="inbox")
    def inbox() -> Any:
        return tether.recv("go")

    @app.workflow(name="sleeper")
    async def sleeper() -> None:
        await tether.sleep_async(3600)

    app.launch()
    run_short = lambda: app.start_workflow("short").result(timeout=60)  # noqa: E731
    before = idle_cost(measure_idle, run_short)
    began = time.perf_counter()
    for i in range(n):
        app.start_workflow("inbox", workflow_id=f"r{i}")
        app.start_workflow("sleeper", workflow_id=f"s{i}")
    wait_for(lambda: suspended(app) >= 2 * n, 600, "every waiter to suspend")
    ramp = time.perf_counter() - began
    after = idle_cost(measure_idle, run_short)
    app.shutdown(grace=1.0)
    return {
        "waiting": f"{n} recv (sync) + {n} sleep (async)",
        "all_suspended_after_s": round(ramp, 1),
        "idle_cpu_pct": after["idle_cpu_pct"],
        "rss_mb": after["rss_mb"],
        "rss_over_idle_executor_mb": round(after["rss_mb"] - before["rss_mb"], 1),
        "threads": after["threads"],
        "short_wf_ms": after["short_wf_ms"],
        "short_wf_ms_without_waiters": before["short_wf_ms"],
    }


def tether_latency(url: str, m: int, gap: float, grace: float, steps: int = 0) -> dict[str, Any]:
    app = make_app(url, grace, "lat")

    register_inbox(app)

    app.launch()
    handles = [app.start_workflow("inbox", steps, workflow_id=f"w{i}") for i in range(m)]
    wait_for(lambda: suspended(app) >= m, 600, "every waiter to suspend")
    time.sleep(1.0)
    for h in handles:
        app.send(h.workflow_id, time.time() * 1000, topic="go")
        time.sleep(gap)
    lat = [h.result(timeout=120) for h in handles]
    app.shutdown(grace=1.0)
    return {"n": m, "prior_steps": steps, **{k: round(v, 1) for k, v in latency_ms(lat).items()}}


# -- DBOS (its own process: DBOS is a singleton) ----------------------------------------------


def dbos_run(url: str, n: int, m: int, gap: float, measure_idle: float) -> dict[str, Any]:
    from dbos import DBOS

    @DBOS.step()
    def one() -> int:
        return 1

    @DBOS.workflow()
    def short() -> int:
        return one()

    @DBOS.workflow()
    def inbox() -> Any:
        return DBOS.recv("go", timeout_seconds=3600)

    @DBOS.workflow()
    def timed() -> float:
        sent = DBOS.recv("go", timeout_seconds=3600)
        return time.time() * 1000 - float(sent)

    @DBOS.workflow()
    async def sleeper() -> None:
        await DBOS.sleep_async(3600)

    DBOS(config={"name": "bench_suspension", "system_database_url": url, "log_level": "ERROR"})
    DBOS.launch()
    try:
        run_short = lambda: DBOS.start_workflow(short).get_result()  # noqa: E731
        before = idle_cost(measure_idle, run_short)
        began = time.perf_counter()
        for _ in range(n):
            DBOS.start_workflow(inbox)
        import asyncio

        async def start_sleepers() -> None:
            for _ in range(n):
                await DBOS.start_workflow_async(sleeper)

        asyncio.run(start_sleepers())
        ramp = time.perf_counter() - began
        time.sleep(5.0)
        after = idle_cost(measure_idle, run_short)
        idle = {
            "waiting": f"{n} recv (sync) + {n} sleep (async)",
            "started_in_s": round(ramp, 1),
            "idle_cpu_pct": after["idle_cpu_pct"],
            "rss_mb": after["rss_mb"],
            "rss_over_idle_executor_mb": round(after["rss_mb"] - before["rss_mb"], 1),
            "threads": after["threads"],
            "short_wf_ms": after["short_wf_ms"],
            "short_wf_ms_without_waiters": before["short_wf_ms"],
        }
        handles = [DBOS.start_workflow(timed) for _ in range(m)]
        time.sleep(5.0)
        for h in handles:
            DBOS.send(h.get_workflow_id(), time.time() * 1000, topic="go")
            time.sleep(gap)
        lat = [h.get_result() for h in handles]
        latency = {"n": m, **{k: round(v, 1) for k, v in latency_ms(lat).items()}}
        return {"idle": idle, "latency": latency}
    finally:
        DBOS.destroy(destroy_registry=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="database URL (sqlite:///... or postgresql://)")
    ap.add_argument("--engine", choices=["tether", "dbos"], default="tether")
    ap.add_argument("-n", type=int, default=10_000, help="recv and sleep waiters each (10,000)")
    ap.add_argument("--idle", type=float, default=20.0, help="seconds measured idle (20)")
    ap.add_argument("--latency", type=int, default=1000, help="waiters messaged (1,000)")
    ap.add_argument("--gap", type=float, default=0.01, help="seconds between messages")
    ap.add_argument("--steps", type=int, default=100, help="steps before the replayed recv")
    ap.add_argument("--grace", type=float, default=1.0, help="suspend_after (1 s)")
    ap.add_argument("--only", choices=["idle", "latency", "replay"], default=None)
    args = ap.parse_args()
    quiet_logs()
    if args.engine == "dbos":
        out = dbos_run(args.url, args.n, args.latency, args.gap, args.idle)
        for section, values in out.items():
            print(f"dbos {section}: {values}")
        return
    if args.only in (None, "idle"):
        print("tether idle:", tether_idle(args.url, args.n, args.idle, args.grace))
    if args.only in (None, "latency"):
        print("tether latency:", tether_latency(args.url, args.latency, args.gap, args.grace))
    if args.only in (None, "replay"):
        few = max(20, args.latency // 20)
        print("tether replay:", tether_latency(args.url, few, args.gap * 5, args.grace, 0))
        print("tether replay:", tether_latency(args.url, few, args.gap * 5, args.grace, args.steps))


if __name__ == "__main__":
    main()
