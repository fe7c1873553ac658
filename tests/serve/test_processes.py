"""tether.rollout.processes: readiness by log line or URL, early exit, deadlines, signals."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from tether.rollout.processes import Processes, SpawnError, free_port, signal_number

SLEEPER = (
    "import os, sys, time; print('ready', os.environ['GREETING'], os.getcwd()); time.sleep(60)"
)


def test_spawn_waits_for_a_line_then_signals_and_reaps(tmp_path: Path) -> None:
    with Processes(tmp_path / "logs") as procs:
        child = procs.python("s", ["-c", SLEEPER], env={"GREETING": "hi"}, cwd=tmp_path)
        child.wait_line(f"ready hi {tmp_path}", timeout=20)
        assert child.alive and child.log_path == tmp_path / "logs" / "s.log"
        assert child.wait(0.01) is None
        child.signal("TERM")
        assert child.wait(10) == -signal.SIGTERM
        other = procs.python("t", ["-c", SLEEPER], env={"GREETING": "x"})
    assert not other.alive  # closing the set killed what still ran


def test_wait_fails_at_once_when_the_child_exits(tmp_path: Path) -> None:
    with Processes(tmp_path) as procs:
        child = procs.python("bad", ["-c", "raise SystemExit('no database here')"])
        with pytest.raises(SpawnError, match=r"exited with status 1 .*\n.*no database here"):
            child.wait_url(f"http://127.0.0.1:{free_port()}/healthz", timeout=20)


def test_wait_fails_after_its_deadline(tmp_path: Path) -> None:
    with Processes(tmp_path) as procs:
        child = procs.python("slow", ["-c", SLEEPER], env={"GREETING": "hi"})
        with pytest.raises(SpawnError, match="did not get 'never' in its log within 0.3 s"):
            child.wait_line("never", timeout=0.3)


def test_signal_names() -> None:
    assert signal_number("KILL") == signal_number("SIGKILL") == signal_number(9) == 9
    assert signal_number("term") == signal.SIGTERM
