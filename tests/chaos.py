"""The chaos run: minutes of SIGKILL, SIGSTOP/SIGCONT, SIGTERM and (on Postgres) terminated
backends across executors of two versions running direct starts, a queue and a schedule;
then the invariants, checked from the database and the effects file the steps append to.

    python -m tests.chaos                      # Postgres from TETHER_TEST_DATABASE_URL
    python -m tests.chaos --db sqlite:///x.db --duration 120

Invariants (each must be 0): lost (acknowledged enqueues missing), ERROR (no workload step
fails, so any ERROR came from a fault), stuck (not finished once the faults stop), a
checkpointed step run again (a step body that began after that step's checkpoint had
committed), and a wrong-version run (a step run by an executor of another version).
Not part of the test suite's default run: it takes minutes.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select
from tether.runtime.store.schema import operations as O

from tests.acceptance.cluster import Cluster
from tether import Status

VERSIONS = ("v1", "v2")
PER_VERSION = 2


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--db", default=os.environ.get("TETHER_TEST_DATABASE_URL"))
    p.add_argument("--duration", type=float, default=180.0, help="seconds of faults")
    p.add_argument("--settle", type=float, default=120.0, help="seconds to finish afterwards")
    p.add_argument("--seed", type=int, default=8)
    p.add_argument("--rate", type=float, default=8.0, help="enqueues per second")
    args = p.parse_args()
    if not args.db:
        p.error("pass --db URL or set TETHER_TEST_DATABASE_URL")
    return args


class Chaos:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.app_name = f"chaos{uuid.uuid4().hex[:8]}"
        self.cluster = Cluster(args.db, self.app_name, workdir)
        self.live: dict[str, str] = {}  # executor id -> version
        self.serial = 0
        self.acked: list[str] = []
        self.faults: Counter[str] = Counter()
        self.enqueue_errors = 0
        self.faults_end_ms = 2**62
        self.queue = self.cluster.observer.queue("q")
        self.terminator: Any = None
        if not args.db.startswith("sqlite"):
            from tests.faults.inject import Terminator

            self.terminator = Terminator(args.db)

    def spawn(self, version: str) -> None:
        self.serial += 1
        eid = f"{version}-w{self.serial}"
        self.cluster.spawn(
            eid,
            version=version,
            start=5,
            wid=f"c-{eid}",
            steps=4,
            pause=0.1,
            queue=True,
            schedule="*/3 * * * * *",
        )
        self.live[eid] = version

    def fault(self) -> None:
        choices = ["kill", "stop", "term"] + (["backends"] if self.terminator else [])
        action = self.rng.choice(choices)
        if action == "backends":
            self.faults["backends terminated"] += self.terminator.app(self.app_name)
            self.faults["backend rounds"] += 1
            return
        eid = self.rng.choice(sorted(self.live))
        proc = self.cluster.procs[eid]
        if action == "stop":
            self.cluster.pause(eid)
            time.sleep(self.rng.uniform(1.5, 3.0))  # past the 1 s lease: peers take over
            proc.send_signal(signal.SIGCONT)
            self.faults["SIGSTOP"] += 1
            return
        version = self.live.pop(eid)
        proc.send_signal(signal.SIGKILL if action == "kill" else signal.SIGTERM)
        self.faults["SIGKILL" if action == "kill" else "SIGTERM"] += 1
        self.spawn(version)

    def enqueue(self, n: int) -> None:
        for _ in range(n):
            version = self.rng.choice(VERSIONS)
            wid = f"q-{len(self.acked)}"
            try:
                self.queue.enqueue(
                    "job", wid, self.rng.uniform(0.05, 0.3), workflow_id=wid, version=version
                )
            except Exception as exc:  # noqa: BLE001 - counted: a fault reached the caller
                print(f"enqueue {wid} raised {exc!r}", file=sys.stderr)
                self.enqueue_errors += 1
                continue
            self.acked.append(wid)

    def run(self) -> dict[str, Any]:
        for version in VERSIONS:
            for _ in range(PER_VERSION):
                self.spawn(version)
        self.cluster.wait_ready(*self.live, timeout=60)
        end = time.monotonic() + self.args.duration
        next_fault = time.monotonic() + 2
        while time.monotonic() < end:
            self.enqueue(max(1, int(self.args.rate / 4)))
            if time.monotonic() >= next_fault:
                self.fault()
                next_fault = time.monotonic() + self.rng.uniform(1.5, 3.5)
            time.sleep(0.25)
        self.faults_end_ms = int(time.time() * 1000)
        settled = self.settle()
        return self.check(settled)

    def settle(self) -> float:
        started = time.monotonic()
        deadline = started + self.args.settle
        while time.monotonic() < deadline:
            if not self.open_ids():
                break
            time.sleep(0.5)
        return time.monotonic() - started

    def open_ids(self) -> list[str]:
        """Open workflows created before the faults stopped (the schedule goes on ticking)."""
        store = self.cluster.observer.store
        return [
            r.workflow_id
            for r in store.workflows.list(limit=100000)
            if r.status in Status.RUNNABLE and r.created_at < self.faults_end_ms
        ]

    def check(self, settled: float) -> dict[str, Any]:
        store = self.cluster.observer.store
        rows = {r.workflow_id: r for r in store.workflows.list(limit=100000)}
        with store.db.read() as conn:
            ops = conn.execute(
                select(O.c.workflow_id, O.c.position, O.c.completed_at).where(
                    O.c.app_name == self.app_name
                )
            ).all()
        committed = {(o.workflow_id, o.position): o.completed_at for o in ops}
        effects = self.cluster.effects()
        reruns = wrong_version = 0
        for e in effects:
            if e["event"] == "step":
                key = (e["wid"], e["index"])
            elif e["event"] == "begin":
                key = (e["wid"], 0)
            else:
                continue
            done = committed.get(key)
            if done is not None and e["t"] * 1000 > done:
                reruns += 1
            rec = rows.get(e["wid"])
            if rec is not None and rec.version != e["version"]:
                wrong_version += 1
        statuses = Counter(str(r.status) for r in rows.values())
        return {
            "workflows": len(rows),
            "enqueued (acknowledged)": len(self.acked),
            "direct starts": sum(1 for w in rows if w.startswith("c-")),
            "scheduled ticks": sum(1 for r in rows.values() if r.name == "tick"),
            "statuses": dict(statuses),
            "enqueue raised": self.enqueue_errors,
            "lost": sum(1 for w in self.acked if w not in rows),
            "ERROR": statuses.get(Status.ERROR, 0),
            "stuck": len(self.open_ids()),
            "checkpointed steps re-run": reruns,
            "wrong-version runs": wrong_version,
            "step bodies run": sum(1 for e in effects if e["event"] in ("step", "begin")),
            "faults": dict(self.faults),
            "settle seconds": round(settled, 1),
        }

    def close(self) -> None:
        for proc in self.cluster.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
        self.cluster.close()
        if self.terminator is not None:
            self.terminator.close()


def main() -> int:
    args = parse()
    with tempfile.TemporaryDirectory(prefix="tether-chaos-") as tmp:
        chaos = Chaos(args, Path(tmp))
        try:
            report = chaos.run()
        finally:
            chaos.close()
    width = max(len(k) for k in report)
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")
    bad = sum(
        report[k]
        for k in (
            "enqueue raised",
            "lost",
            "ERROR",
            "stuck",
            "checkpointed steps re-run",
            "wrong-version runs",
        )
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
