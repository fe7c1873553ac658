"""Q1 and Q2, queued work, on tether or DBOS: ``python -m bench.queues --engine tether ...``.

Q1 (drain): a backlog of N one-step workflows is enqueued while no worker runs; then two
worker processes start together and drain it. Throughput is N over the time from the first
dequeue to the last completion, both seen by the harness on its own clock (it polls the
queue's rows every 20 ms, the same query for both engines), so process start-up is not
counted and neither engine's timestamp resolution matters (DBOS's SQLite timestamps are
whole seconds on Python < 3.12). The start latency of a workflow is its dequeue time minus
the first dequeue, from the rows (indicative only where they are whole seconds).

Q2 (idle latency): one worker process waits on an empty queue; another process enqueues one
workflow at a time and waits for it to finish. Its latency runs from just before the enqueue
call to the first line of the workflow's step (wall clock, one machine), so it counts the
enqueue's commit, the wake-up, the dequeue and the start, the same way for both engines.

Both engines run with their defaults (tether: NOTIFY wake-ups on Postgres, a 5 ms watch of
``PRAGMA data_version`` on SQLite, and a 0.5 s poll; DBOS: a 1 s queue poll), one engine per
process, the same workflow (one trivial step). ``--dbos-poll 0.05`` runs DBOS tuned
(``polling_interval_sec=0.05`` on its queue).
"""

from __future__ import annotations

import argparse
import importlib
import os
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


class Progress:
    """How many of the queue's workflows left ENQUEUED and how many succeeded: one query on
    one open connection, the same for both engines, so the harness can time Q1 itself."""

    def __init__(self, url: str, table: str, where: str = "") -> None:
        import sqlalchemy as sa

        if url.startswith("postgresql://"):
            url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        self._engine = sa.create_engine(url)
        self._conn = self._engine.connect()
        self._sql = sa.text(
            "SELECT coalesce(sum(CASE WHEN status <> 'ENQUEUED' THEN 1 ELSE 0 END), 0), "
            "coalesce(sum(CASE WHEN status = 'SUCCESS' THEN 1 ELSE 0 END), 0) "
            f"FROM {table} WHERE queue_name = :q {where}"
        )

    def __call__(self) -> tuple[int, int]:
        row = self._conn.execute(self._sql, {"q": QUEUE}).one()
        self._conn.rollback()  # a fresh snapshot each time
        return int(row[0]), int(row[1])

    def close(self) -> None:
        self._conn.close()
        self._engine.dispose()


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
    progress = Progress(url, *mod.progress_table(url))
    first_dequeue: float | None = None
    workers = [spawn_worker(engine, url) for _ in range(2)]
    try:
        deadline = time.monotonic() + 600
        while True:
            dequeued, done = progress()
            now = time.perf_counter()
            if first_dequeue is None and dequeued:
                first_dequeue = now
            if done >= n:
                break
            if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                raise RuntimeError(f"only {done} of {n} finished")
            time.sleep(0.02)
        for w in workers:
            wait_ready(w)
    finally:
        stop(workers)
        progress.close()
    assert first_dequeue is not None
    seconds = now - first_dequeue
    rows = mod.timestamps(url)  # (created, started, completed) in epoch ms
    assert len(rows) == n, f"expected {n} finished workflows, found {len(rows)}"
    first = min(r[1] for r in rows)
    waits = [float(r[1] - first) for r in rows]
    per_worker = mod.per_executor(url)
    return {
        "n": n,
        "workers": 2,
        "enqueue_seconds": enqueue_s,
        "seconds": seconds,
        "wf_per_s": n / seconds,
        "rows_seconds": (max(r[2] for r in rows) - first) / 1000,
        "start_p50_ms": percentile(waits, 0.50),
        "start_p99_ms": percentile(waits, 0.99),
        "per_worker": per_worker,
        "one_worker_took_all": len(per_worker) < 2,
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
    parser.add_argument("--dbos-poll", type=float, help="DBOS queue polling_interval_sec")
    args = parser.parse_args()
    quiet_logs()
    if args.dbos_poll is not None:
        os.environ["BENCH_DBOS_POLL"] = str(args.dbos_poll)  # inherited by the workers
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
