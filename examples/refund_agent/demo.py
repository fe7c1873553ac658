"""Crash recovery, shown: a worker is killed mid-flight and a peer finishes its agents.

    python -m examples.refund_agent [--dir DIR]

Worker A starts one refund agent per ticket. Once every refund is issued and before any
email goes out, the demo SIGKILLs it. Worker B (same code, so the same version) claims the
agents when A's lease expires, resumes each at its next step, and sends the emails. The
final check reads the payment ledger and the outbox, the stand-ins' own records: every
order is refunded at most once and every customer gets exactly one email.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from examples.refund_agent import agent
from tether import Status, Tether

ROOT = Path(__file__).resolve().parents[2]
IDS = [f"refund-{t['order_id']}" for t in agent.TICKETS]
T = TypeVar("T")


def spawn(name: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TETHER_EXECUTOR_ID": name}
    cmd = [sys.executable, "-m", "examples.refund_agent.worker", *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=env)


def wait_until(
    what: str, probe: Callable[[], T], worker: subprocess.Popen[bytes], timeout: float = 30.0
) -> T:
    """Poll ``probe`` until it returns something truthy; fail loudly if the worker dies first."""
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if worker.poll() is not None:
            raise RuntimeError(f"a worker exited with code {worker.returncode}; see above")
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting until {what}")
        time.sleep(0.05)
    return value


def steps_of(observer: Tether, wid: str) -> dict[str, Any]:
    """Name -> recorded output of each checkpointed step of one agent (empty if not started)."""
    if observer.store.workflows.get(wid) is None:
        return {}
    return {s.name: json.loads(s.output or "null") for s in observer.list_steps(wid)}


def every_refund_issued(observer: Tether) -> bool:
    """Each agent has decided, and each one that decided to refund has a recorded refund."""
    for wid in IDS:
        steps = steps_of(observer, wid)
        if "decide" not in steps or (steps["decide"]["refund"] and "issue_refund" not in steps):
            return False
    return True


def all_finished(observer: Tether) -> bool:
    return all(observer.get_workflow(wid).status not in Status.RUNNABLE for wid in IDS)


def tether_command() -> str:
    """The ``tether`` CLI installed next to this Python (e.g. ``.venv/bin/tether``)."""
    path = Path(sys.executable).parent / "tether"
    if not path.exists():
        return "tether"
    return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)


def check(observer: Tether) -> bool:
    ledger, outbox = agent.read_lines("ledger.jsonl"), agent.read_lines("outbox.jsonl")
    print("\nCheck, against the payment ledger and the outbox:")
    ok = True
    for ticket, wid in zip(agent.TICKETS, IDS, strict=True):
        rec = observer.get_workflow(wid)
        refunds = [e for e in ledger if e["order_id"] == ticket["order_id"]]
        emails = [e for e in outbox if e["to"] == ticket["customer"]]
        wanted = 1 if rec.status == Status.SUCCESS and rec.output["refund"] else 0
        good = rec.status == Status.SUCCESS and len(refunds) == wanted and len(emails) == 1
        ok = ok and good
        who = ", ".join(
            [f"refund by {e['worker']}" for e in refunds]
            + [f"email by {e['worker']}" for e in emails]
        )
        print(
            f"  {ticket['order_id']}  {rec.status:<7}  refunds {len(refunds)} (want {wanted})"
            f"  emails {len(emails)} (want 1)  {'ok ' if good else 'BAD'}  {who}"
        )
    if ok:
        print("OK: no refund was issued twice and every customer got exactly one email.")
    else:
        print("FAILED: see the lines marked BAD.")
    return ok


def main(argv: list[str] | None = None) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # interleave with workers
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", help="where the database, ledger and outbox go (default: new)")
    data = Path(parser.parse_args(argv).dir or tempfile.mkdtemp(prefix="refund-demo-")).resolve()
    data.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{data / 'tether.db'}"
    os.environ.update(TETHER_DATABASE_URL=url, TETHER_EXAMPLE_DATA_DIR=str(data))

    observer = Tether(app_name=agent.app.app_name, database_url=url, install_signal_handlers=False)
    observer.store.migrate()
    workers: list[subprocess.Popen[bytes]] = []
    began = time.monotonic()
    try:
        print(f"Refund agents on embedded SQLite: {data / 'tether.db'}\n")
        workers.append(a := spawn("worker-A", "--start"))
        print(f"1. worker-A (pid {a.pid}) starts {len(IDS)} refund agents, one per ticket.")
        wait_until("every refund is issued", lambda: every_refund_issued(observer), a)
        sent = len(agent.read_lines("outbox.jsonl"))
        a.send_signal(signal.SIGKILL)
        a.wait()
        pending = sum(observer.get_workflow(w).status == Status.PENDING for w in IDS)
        print(
            f"2. Every refund is issued, {sent} emails are sent: SIGKILL worker-A.\n"
            f"   {pending} agents are left PENDING, held by a dead executor."
        )
        version = observer.get_workflow(IDS[0]).version
        workers.append(b := spawn("worker-B"))
        print(
            f"3. worker-B (pid {b.pid}) runs the same code, version {version}. It claims the\n"
            f"   agents once worker-A's lease ({agent.app.settings.lease_timeout:.0f} s) expires"
            " and resumes each at its next step."
        )
        wait_until("every agent finishes", lambda: all_finished(observer), b, timeout=60)
        b.send_signal(signal.SIGTERM)
        b.wait(timeout=30)
        print(
            f"4. All agents finished {time.monotonic() - began:.1f} s after the start; "
            "worker-B drained on SIGTERM and exited."
        )
        ok = check(observer)
        print(f"\nLook around: {tether_command()} --database-url {shlex.quote(url)} "
              f"--app {agent.app.app_name} workflows list")  # fmt: skip
        return 0 if ok else 1
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
        observer.store.close()


if __name__ == "__main__":
    sys.exit(main())
