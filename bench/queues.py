"""Q1 and Q2, queued work, on tether or DBOS: ``python -m bench.queues --engine tether ...``.

Q1 (drain): a backlog of N one-step workflows is enqueued while no worker runs; then two
worker processes start together and drain it. Throughput is N over the time from the first
dequeue to the last completion (database timestamps, so process start-up is not counted);
the start latency of a workflow is its dequeue time minus that first dequeue.

Q2 (idle latency): one worker process waits on an empty queue; another process enqueues one
workflow at a time and waits for it to finish. Its latency runs from just before the enqueue
call to the first line of the workflow's step (wall clock, one machine), so it counts the
enqueue's commit, the wake-up, the dequeue and the start, the same way for both engines.

Both engines run with their defaults (tether: NOTIFY wake-ups and a 0.5 s poll; DBOS: a 1 s
queue poll), one engine per process, the same workflow (one trivial step).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import subprocess
import sys
import time
from types import ModuleType
from typing import Any

from .common import SIZES, emit, quiet_logs

APP = "bench_queues"
QUEUE = "bench_q"


def engine_module(engine: str) -> ModuleType:
    return importlib.import_module(f"bench.{engine}_queues")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, -(-int(p * 1000) * len(ordered) // 1000))
    return ordered[min(rank, len(ordered)) - 1]


def spawn_worker(engine: str, url: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "bench.queues", "--engine", engine, "--role", "worker"]
    cmd += ["--url", url]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "READY":
        raise RuntimeError(f"worker did not start (said {line!r}, exit {proc.poll()})")


def stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def q1(engine: str, url: str, n: int) -> dict[str, Any]:
    mod = engine_module(engine)
    mod.setup(url)
    with_enqueue = time.perf_counter()
    mod.enqueue_backlog(url, n)
    enqueue_s = time.perf_counter() - with_enqueue
    workers = [spawn_worker(engine, url) for _ in range(2)]
    try:
        for w in workers:
            wait_ready(w)
        deadline = time.monotonic() + 600
        while mod.finished(url) < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {mod.finished(url)} of {n} finished")
            time.sleep(0.1)
    finally:
        stop(workers)
    rows = mod.timestamps(url)  # (created, started, completed) in epoch ms
    assert len(rows) == n, f"expected {n} finished workflows, found {len(rows)}"
    first = min(r[1] for r in rows)
    last = max(r[2] for r in rows)
    waits = [float(r[1] - first) for r in rows]
    seconds = (last - first) / 1000
    return {
        "n": n,
        "workers": 2,
        "enqueue_seconds": enqueue_s,
        "seconds": seconds,
        "wf_per_s": n / seconds,
        "start_p50_ms": percentile(waits, 0.50),
        "start_p99_ms": percentile(waits, 0.99),
        "per_worker": mod.per_executor(url),
    }


def q2(engine: str, url: str, n: int, warmup: int) -> dict[str, Any]:
    mod = engine_module(engine)
    mod.setup(url)
    worker = spawn_worker(engine, url)
    try:
        wait_ready(worker)
        with mod.Enqueuer(url) as enq:
            for i in range(warmup):
                enq.run_one(i)
            latencies = [enq.run_one(i) for i in range(n)]
    finally:
        stop([worker])
    return {
        "n": n,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["tether", "dbos"], required=True)
    parser.add_argument("--workload", choices=["Q1", "Q2"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--size", default="full", choices=sorted(SIZES))
    parser.add_argument("--role", choices=["worker"])
    args = parser.parse_args()
    quiet_logs()
    if args.role == "worker":
        engine_module(args.engine).worker(args.url)
        return
    sz = SIZES[args.size]
    if args.workload == "Q1":
        out = q1(args.engine, args.url, sz["Q1"])
    else:
        out = q2(args.engine, args.url, sz["Q2"], sz["warmup"])
    emit({"engine": args.engine, "workload": args.workload, **out})


def serve_until_signalled() -> None:
    """Worker processes: say READY, then idle until SIGTERM/SIGINT."""
    signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    print("READY", flush=True)
    signal.sigwait(signals)


if __name__ == "__main__":
    main()
