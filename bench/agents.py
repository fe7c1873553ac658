"""10,000 waiting agents across two executors, one SIGKILLed while they are being woken.

    python -m bench agents                       # 10,000 agents, SQLite and Postgres
    python -m bench agents -n 2000 --db sqlite

Executors A and B each start ``n / 2`` agents: step ``before``, ``recv("go")``, step ``after``.
Each step appends ``event wid pid`` to an effects file outside the framework, before it
returns. Once every agent is suspended, this process (a Client) messages them all; when a
fifth of them have finished, A is SIGKILLed. B resumes the rest: the woken ones A had not
claimed at once, those A held after its lease expires. The figures come from the database
(statuses, the recv recorded once per agent, no message left) and from the effects file:

- lost: agents not SUCCESS at the end (must be 0);
- re-run, completed: a ``before`` or ``after`` step run again although its checkpoint
  was committed by the executor that ran it first (a resume replays it: must be 0);
- re-run, in flight: run on A, which died (or lost its lease) before the checkpoint, and
  run again on B (the at-least-once window of any durable execution).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from typing import Any

from .common import drop_pg_database, fresh_pg_database, fresh_sqlite_file, quiet_logs, run_db_name

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = "bench_agents"
LEASE = 2.0


def executor(url: str, name: str, n: int, effects: str) -> None:
    import tether
    from tether import Tether

    fd = os.open(effects, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    app = Tether(
        app_name=APP,
        database_url=url,
        version="v1",
        executor_id=name,
        lease_timeout=LEASE,
        heartbeat_interval=0.5,
        recovery_interval=0.5,
        suspend_after=0.1,
        install_signal_handlers=False,
    )

    @app.step()
    def mark(event: str, wid: str) -> None:
        os.write(fd, f"{event} {wid} {name}\n".encode())

    @app.workflow(name="agent")
    def agent() -> Any:
        wid = tether.workflow_id()
        mark("before", wid)
        got = tether.recv("go")
        mark("after", wid)
        return got

    app.launch()
    for i in range(n):
        app.start_workflow(agent, workflow_id=f"{name}-{i}")
    print("STARTED", flush=True)
    while True:
        time.sleep(1)


def _counts(client: Any) -> Counter[str]:
    from sqlalchemy import func, select
    from tether.runtime.store.schema import workflows as W

    with client.store.db.read() as conn:
        rows = conn.execute(
            select(W.c.status, func.count()).where(W.c.app_name == APP).group_by(W.c.status)
        ).all()
    return Counter({r[0]: r[1] for r in rows})


def _wait(predicate: Any, timeout: float, what: str) -> float:
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - began


def run(url: str, n: int, tmp: str) -> dict[str, Any]:
    from tether import Client

    effects = os.path.join(tmp, "effects.txt")
    open(effects, "w").close()
    procs = {}
    for name in ("A", "B"):
        cmd = [sys.executable, "-m", "bench.agents", "--role", name, "--url", url]
        cmd += ["-n", str(n // 2), "--effects", effects]
        procs[name] = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        for p in procs.values():
            assert p.stdout is not None and p.stdout.readline().strip() == "STARTED"
        with Client(url, APP) as client:
            ramp = _wait(lambda: _counts(client)["SUSPENDED"] >= n, 900, "all to suspend")
            ids = [f"{x}-{i}" for i in range(n // 2) for x in ("A", "B")]
            began = time.monotonic()
            killed_at = None
            for k, wid in enumerate(ids):
                client.send(wid, "go", topic="go")
                if killed_at is None and k % 100 == 0 and _counts(client)["SUCCESS"] >= n // 5:
                    procs["A"].send_signal(signal.SIGKILL)
                    killed_at = time.monotonic()
            sent = time.monotonic() - began
            if killed_at is None:  # they finished faster than they were sent
                procs["A"].send_signal(signal.SIGKILL)
                killed_at = time.monotonic()
            _wait(lambda: _counts(client)["SUCCESS"] >= n, 900, "all to finish")
            done = time.monotonic()
            final = _counts(client)
            db = _database_checks(client)
    finally:
        for p in procs.values():
            p.kill()
            p.wait()
    effect = _effect_checks(effects, db.pop("before_writer"), db.pop("after_writer"))
    return {
        "agents": n,
        "all_suspended_after_s": round(ramp, 1),
        "messages_sent_in_s": round(sent, 1),
        "kill_to_all_done_s": round(done - killed_at, 1),
        "first_message_to_all_done_s": round(done - began, 1),
        "lost": n - final["SUCCESS"],
        **db,
        **effect,
    }


def _database_checks(client: Any) -> dict[str, Any]:
    from sqlalchemy import func, select
    from tether.runtime.store.schema import messages as M
    from tether.runtime.store.schema import operations as O

    with client.store.db.read() as conn:
        recvs = conn.execute(
            select(O.c.workflow_id, func.count())
            .where(O.c.app_name == APP, O.c.kind == "recv")
            .group_by(O.c.workflow_id)
        ).all()
        left = conn.execute(select(func.count()).where(M.c.app_name == APP)).scalar_one()
        # The `after` step is each agent's last operation: who checkpointed it.
        ops = conn.execute(
            select(O.c.workflow_id, O.c.position, O.c.executor_id)
            .where(O.c.app_name == APP)
            .order_by(O.c.workflow_id, O.c.position)
        ).all()
    writers = {r.workflow_id: r.executor_id for r in ops}  # the last position wins
    firsts = {r.workflow_id: r.executor_id for r in ops if r.position == 0}
    return {
        "recv_recorded_twice": sum(1 for r in recvs if r[1] != 1),
        "messages_left": left,
        "after_writer": writers,
        "before_writer": firsts,
    }


def _effect_checks(
    path: str, before_writer: dict[str, str], after_writer: dict[str, str]
) -> dict[str, int]:
    ran: dict[tuple[str, str], list[str]] = defaultdict(list)
    with open(path) as f:
        for line in f:
            event, wid, who = line.split()
            ran[(event, wid)].append(who)
    out = {"before_rerun_completed": 0, "before_rerun_in_flight": 0}
    out |= {"after_rerun_completed": 0, "after_rerun_in_flight": 0}
    for (event, wid), who in ran.items():
        if len(who) > 1:
            # Run again after a committed checkpoint: its first runner is the one that wrote
            # it. Else the first run died (or lost its lease) before its checkpoint.
            writer = (before_writer if event == "before" else after_writer).get(wid)
            again = "completed" if writer == who[0] else "in_flight"
            out[f"{event}_rerun_{again}"] += 1
            print(f"  {event} step of {wid} ran on {who}; checkpointed by {writer}")
    out["after_never_ran"] = len(after_writer) - sum(1 for e, _ in ran if e == "after")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench agents", description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=10_000, help="agents in all (10,000)")
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--role", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--effects", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    quiet_logs()
    if args.role:
        executor(args.url, args.role, args.n, args.effects)
    failed = False
    for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
        with tempfile.TemporaryDirectory(prefix="tether-agents-") as tmp:
            if db == "sqlite":
                url = "sqlite:///" + fresh_sqlite_file(tmp, "agents")
            else:
                url = fresh_pg_database(run_db_name("tether"))
            try:
                result = run(url, args.n, tmp)
            finally:
                if db == "postgres":
                    drop_pg_database(run_db_name("tether"))
        print(f"{db}: " + ", ".join(f"{k} {v}" for k, v in result.items()), flush=True)
        bad = ("lost", "recv_recorded_twice", "messages_left")
        failed |= any(result[k] for k in (*bad, "before_rerun_completed", "after_rerun_completed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
