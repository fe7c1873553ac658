"""W4: a worker is SIGKILLed midway; a live peer of the same version finishes everything.

``python -m bench.w4 --url URL`` is the coordinator. It starts a peer (launched, idle), then
a worker that starts N workflows of S steps of 50 ms each; once half the steps have run and
every workflow exists, it SIGKILLs the worker and times until all N workflows are SUCCESS.

Every step appends ``pid workflow_id position`` to a file outside the framework as its last
action. A *duplicated completed step* is one the peer ran again although the worker had
already committed its checkpoint (the checkpoint row carries the worker's executor id):
that must never happen. A step that the worker ran but had not checkpointed when it died is
run again by the peer; that is the documented at-least-once window, reported separately.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

from tether import Tether

from .common import SIZES, emit, quiet_logs

APP = "bench_w4"
STEP_SECONDS = 0.05
# The worker runs fewer workflows at once than the default so that the kill lands midway
# through the run rather than near its end; the peer keeps the default (128).
WORKER_SLOTS = 50
PEER_SLOTS = 128


def build(url: str, lease: float, effects: str, max_workflows: int) -> tuple[Tether, Any]:
    app = Tether(
        app_name=APP,
        database_url=url,
        version="bench-v1",
        lease_timeout=lease,
        max_workflows=max_workflows,
        install_signal_handlers=False,
    )
    fd = os.open(effects, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    pid = os.getpid()

    @app.step()
    def slow(wid: str, pos: int) -> int:
        time.sleep(STEP_SECONDS)
        os.write(fd, f"{pid} {wid} {pos}\n".encode())
        return pos

    @app.workflow()
    def job(steps: int) -> int:
        import tether

        wid = tether.workflow_id()
        return sum(slow(wid, i) for i in range(steps))

    return app, job


def role_main(args: argparse.Namespace) -> None:
    """The worker (starts the workflows) or the peer (waits to recover them)."""
    quiet_logs()
    slots = WORKER_SLOTS if args.role == "worker" else PEER_SLOTS
    app, job = build(args.url, args.lease, args.effects, slots)
    app.launch()
    print(f"READY {app.executor_id}", flush=True)
    if args.role == "worker":
        for i in range(args.n):
            app.start_workflow(job, args.steps, workflow_id=f"w4-{i}")
        print("STARTED", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    app.shutdown(grace=1.0)


def _spawn(role: str, args: argparse.Namespace, effects: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "bench.w4", "--role", role, "--url", args.url]
    cmd += ["--lease", str(args.lease), "--effects", effects]
    cmd += ["--n", str(args.n), "--steps", str(args.steps)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def _expect(proc: subprocess.Popen[str], word: str) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith(word):
        raise RuntimeError(f"expected {word!r} from {proc.args}, got {line!r}")
    return line[len(word) :].strip()


def _count_lines(path: str) -> int:
    with open(path, "rb") as f:
        return f.read().count(b"\n")


def coordinate(args: argparse.Namespace) -> dict[str, Any]:
    from tether.runtime.store import Store

    workdir = tempfile.mkdtemp(prefix="tether-w4-")
    effects = os.path.join(workdir, "effects.log")
    open(effects, "w").close()
    total_steps = args.n * args.steps
    peer = _spawn("peer", args, effects)
    worker = None
    try:
        peer_id = _expect(peer, "READY")
        worker = _spawn("worker", args, effects)
        worker_id = _expect(worker, "READY")
        _expect(worker, "STARTED")
        deadline = time.monotonic() + 120
        while _count_lines(effects) < total_steps // 2:
            if time.monotonic() > deadline:
                raise RuntimeError("the worker never reached the midpoint")
            time.sleep(0.002)
        worker.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        killed_wall_ms = time.time() * 1000
        worker.wait()
        steps_at_kill = _count_lines(effects)
        store = Store(args.url, APP)
        ids = [f"w4-{i}" for i in range(args.n)]
        deadline = killed_at + args.lease + 120
        while True:
            statuses = store.workflows.statuses(ids)
            if sum(1 for s in statuses.values() if s == "SUCCESS") == args.n:
                recovery = time.monotonic() - killed_at
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"not all finished: {statuses}")
            time.sleep(0.01)
        ops = {}
        for wid in ids:
            for op in store.operations.history(wid):
                ops[(wid, op.position)] = op
        checkpoints = _op_executors(store, ids)
        store.close()
    finally:
        for proc in (worker, peer):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    runs: dict[tuple[str, int], list[int]] = {}
    with open(effects) as f:
        for line in f:
            pid, wid, pos = line.split()
            runs.setdefault((wid, int(pos)), []).append(int(pid))
    holders = {key: ex for key, (ex, _) in checkpoints.items()}
    peer_done = [at for ex, at in checkpoints.values() if ex == peer_id]
    worker_pid = worker.pid
    duplicated_completed = sum(
        1
        for key, pids in runs.items()
        if holders.get(key) == worker_id and any(p != worker_pid for p in pids)
    )
    rerun_in_flight = sum(
        1
        for key, pids in runs.items()
        if holders.get(key) != worker_id and worker_pid in pids and len(pids) > 1
    )
    return {
        "n": args.n,
        "steps": args.steps,
        "lease_s": args.lease,
        "worker_slots": WORKER_SLOTS,
        "recovery_seconds": recovery,
        # From the kill to the peer's first checkpoint: lease expiry plus the claim delay.
        "first_peer_checkpoint_s": (min(peer_done) - killed_wall_ms) / 1000 if peer_done else None,
        "steps_at_kill": steps_at_kill,
        "checkpoints": len(ops),
        "checkpoints_by_peer": len(peer_done),
        "side_effects": sum(len(p) for p in runs.values()),
        "duplicated_completed": duplicated_completed,
        "rerun_in_flight": rerun_in_flight,
        "worker": worker_id,
        "peer": peer_id,
    }


def _op_executors(store: Any, ids: list[str]) -> dict[tuple[str, int], tuple[str, int]]:
    """(workflow_id, position) -> (executor id that committed the checkpoint, when)."""
    from sqlalchemy import select
    from tether.runtime.store.schema import operations as O

    with store.db.read() as conn:
        rows = conn.execute(
            select(O.c.workflow_id, O.c.position, O.c.executor_id, O.c.completed_at).where(
                O.c.app_name == APP, O.c.workflow_id.in_(ids)
            )
        ).all()
    return {(r.workflow_id, r.position): (r.executor_id, r.completed_at) for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--size", default="full", choices=sorted(SIZES))
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--role", choices=["worker", "peer"])
    parser.add_argument("--effects")
    parser.add_argument("--n", type=int)
    parser.add_argument("--steps", type=int)
    args = parser.parse_args()
    if args.role:
        role_main(args)
        return
    args.n = args.n or SIZES[args.size]["W4"]
    args.steps = args.steps or SIZES[args.size]["W4_steps"]
    emit({"engine": "tether", "workload": "W4", **coordinate(args)})


if __name__ == "__main__":
    main()
