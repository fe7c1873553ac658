"""Real executor processes for the acceptance tests: spawn, signal, observe, clean up.

``cluster`` runs ``worker.py`` processes against the test's database (SQLite file or
Postgres, from the shared ``database_url``/``app_name`` fixtures) and reads two kinds of
truth: the database, and the effects file the workers' steps append to outside the
framework. Every wait is a poll with a deadline; a timeout reports the workers' logs.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from tether.rollout.processes import Processes
from tether.runtime.store.schema import operations as O

from tether import Status, Tether, WorkflowRecord

WORKER = Path(__file__).with_name("worker.py")
LEASE = 1.0  # the workers' default lease timeout (see worker.py)
T = TypeVar("T")


class Cluster:
    def __init__(self, database_url: str, app_name: str, tmp_path: Path) -> None:
        self.database_url = database_url
        self.app_name = app_name
        self.dir = tmp_path
        self.effects_path = tmp_path / "effects.jsonl"
        self.gate = tmp_path / "gate"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.processes = Processes(tmp_path)  # logs: tmp_path / "<executor_id>.log"
        # Not launched: it reads the store and is never an executor itself.
        self.observer = Tether(
            app_name=app_name,
            database_url=database_url,
            version="observer",
            lease_timeout=LEASE,
            install_signal_handlers=False,
        )

    # -- processes ----------------------------------------------------------------------------

    def spawn(
        self, executor_id: str, *, version: str = "v1", name: str | None = None, **options: Any
    ) -> subprocess.Popen:
        """Start a worker; ``options`` become its flags (``steps=3`` -> ``--steps 3``, ``x=True``
        -> ``--x``, a list repeats the flag). ``name`` keys the process and its log when two
        processes share an executor id."""
        argv = [str(WORKER), "--db", self.database_url, "--app", self.app_name]
        argv += ["--version", version, "--executor-id", executor_id]
        argv += ["--effects", str(self.effects_path), "--gate", str(self.gate)]
        for key, value in options.items():
            flag = "--" + key.replace("_", "-")
            values = value if isinstance(value, (list, tuple)) else [value]
            for v in values:
                argv += [flag] if v is True else [flag, str(v)]
        name = name or executor_id
        proc = self.processes.python(name, argv).popen
        self.procs[name] = proc
        return proc

    def wait_ready(self, *executor_ids: str, timeout: float = 20.0) -> None:
        want = set(executor_ids)
        self.wait(
            lambda: want <= {e["executor"] for e in self.effects("ready")},
            timeout,
            f"workers {sorted(want)} to launch",
        )

    def pause(self, executor_id: str) -> None:
        """SIGSTOP a worker, never while it holds SQLite's writer lock (that would block all)."""
        proc = self.procs[executor_id]
        while True:
            proc.send_signal(signal.SIGSTOP)
            if not self.database_url.startswith("sqlite") or self._sqlite_writable():
                return
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.01)

    def _sqlite_writable(self) -> bool:
        path = self.database_url.removeprefix("sqlite:///")
        conn = sqlite3.connect(path, timeout=0.3, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            conn.close()

    def close(self) -> None:
        self.processes.close()  # SIGKILL also ends a stopped process
        self.observer.store.close()

    # -- observing ----------------------------------------------------------------------------

    def wait(self, predicate: Callable[[], T], timeout: float, what: str) -> T:
        """Poll ``predicate`` until it returns something truthy, or fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                logs = self.logs()
                raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")
            time.sleep(0.02)

    def logs(self) -> str:
        """Each worker's log tail; live workers first dump their threads' stacks into it."""
        live = [p for p in self.procs.values() if p.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGUSR1)
        if live:
            time.sleep(0.3)  # diagnostics only: let faulthandler write
        parts = []
        for executor_id, proc in self.procs.items():
            text = (self.dir / f"{executor_id}.log").read_text(errors="replace")[-8000:]
            parts.append(f"--- worker {executor_id} (exit {proc.poll()}) ---\n{text}")
        return "\n".join(parts)

    def effects(self, event: str | None = None, **match: Any) -> list[dict[str, Any]]:
        if not self.effects_path.exists():
            return []
        lines = [json.loads(x) for x in self.effects_path.read_text().splitlines() if x]
        return [
            e
            for e in lines
            if (event is None or e["event"] == event)
            and all(e.get(k) == v for k, v in match.items())
        ]

    def step_counts(self, wid: str) -> Counter[int]:
        """How many times each step of ``wid`` began, across all processes."""
        return Counter(e["index"] for e in self.effects("step", wid=wid))

    def workflow(self, wid: str) -> WorkflowRecord | None:
        return self.observer.store.workflows.get(wid)

    def finished(self, wid: str) -> WorkflowRecord | None:
        rec = self.workflow(wid)
        return rec if rec is not None and rec.status not in Status.RUNNABLE else None

    def operations(self, wid: str | None = None) -> list[Any]:
        """Checkpoint rows with the executor that wrote each (``position, executor_id, ...``)."""
        stmt = select(O.c.workflow_id, O.c.position, O.c.executor_id, O.c.completed_at).where(
            O.c.app_name == self.app_name
        )
        if wid is not None:
            stmt = stmt.where(O.c.workflow_id == wid)
        with self.observer.store.db.read() as conn:
            return list(conn.execute(stmt.order_by(O.c.workflow_id, O.c.position)))

    def writers(self, wid: str) -> dict[int, str]:
        """Position -> executor id that checkpointed it."""
        return {r.position: r.executor_id for r in self.operations(wid)}

    def exit_signal(self, executor_id: str, timeout: float = 10.0) -> int:
        """The signal that ended a worker (Popen reports death by signal N as -N)."""
        proc = self.procs[executor_id]
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker {executor_id} still runs\n{self.logs()}") from None
        assert code < 0, f"worker {executor_id} exited with status {code}, not by a signal"
        return -code
