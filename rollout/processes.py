"""Child processes for local revisions (and test clusters): spawn, wait until ready, signal.

A child gets its own environment, working directory and log file (stdout and stderr), and
its own session, so a Ctrl+C in the parent's terminal reaches the parent only. Readiness is
polled with a deadline, either an HTTP URL answering 200 or a line appearing in the log; a
child that exits while being waited for fails the wait at once, with the tail of its log.
``Processes.close()`` kills whatever is still running and closes the logs.
"""

from __future__ import annotations

import os
import signal as signals
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from tether.runtime.errors import TetherError

POLL = 0.05


class SpawnError(TetherError):
    """A child process did not become ready (it exited, or the deadline passed)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the OS picks it; a race is possible but rare)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def signal_number(sig: int | str) -> int:
    """``"KILL"``, ``"SIGKILL"`` or ``9`` → 9."""
    if isinstance(sig, int):
        return sig
    name = sig.upper()
    return int(getattr(signals, name if name.startswith("SIG") else "SIG" + name))


def url_answers(url: str, timeout: float = 1.0) -> bool:
    """True when ``url`` answers GET with a 2xx status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local URL
            return 200 <= int(resp.status) < 300
    except (OSError, ValueError):  # refused, timed out, or an HTTP error status
        return False


class Child:
    """One spawned process with its log file."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log_path: Path, log: IO[bytes]):
        self.name = name
        self.popen = popen
        self.log_path = log_path
        self._log = log

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """None while running; ``-N`` when ended by signal N."""
        return self.popen.poll()

    def signal(self, sig: int | str) -> None:
        if self.alive:
            self.popen.send_signal(signal_number(sig))

    def kill(self) -> None:
        self.signal(signals.SIGKILL)

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit status, or None if still running after ``timeout`` seconds."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``ready`` until true; raise ``SpawnError`` on exit or after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.alive:
                raise SpawnError(
                    f"{self.name} exited with status {self.returncode} before {what}; its log "
                    f"({self.log_path}) ends:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise SpawnError(
                    f"{self.name} did not get {what} within {timeout:g} s; its log "
                    f"({self.log_path}) ends:\n{self.log_tail()}"
                )
            time.sleep(POLL)

    def wait_url(self, url: str, timeout: float = 30.0) -> None:
        """Wait until ``url`` answers 200 (a health endpoint, say)."""
        self.wait_until(lambda: url_answers(url), timeout, f"{url} to answer")

    def wait_line(self, text: str, timeout: float = 30.0) -> None:
        """Wait until ``text`` appears in the child's log."""
        self.wait_until(lambda: text in self.log_tail(1 << 20), timeout, f"{text!r} in its log")

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit status."""
        self.signal(signals.SIGTERM)
        code = self.wait(grace)
        if code is None:
            self.kill()
            code = self.wait(10)
        return code

    def close(self) -> None:
        """Kill if still running (SIGKILL also ends a stopped process), reap, close the log."""
        self.kill()
        self.wait(10)
        self._log.close()


class Processes:
    """Spawns children into ``workdir`` (their logs go there) and cleans them all up."""

    def __init__(self, workdir: Path | str) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.children: dict[str, Child] = {}

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str | None] | None = None,
        cwd: Path | str | None = None,
    ) -> Child:
        """Start ``argv``; ``env`` entries override the parent's (None removes one)."""
        old = self.children.get(name)
        if old is not None:
            if old.alive:
                raise SpawnError(f"a process named {name!r} is running: choose another name")
            old.close()
        full_env = dict(os.environ)
        full_env["PYTHONUNBUFFERED"] = "1"
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        log_path = self.workdir / f"{name}.log"
        log = open(log_path, "ab")  # noqa: SIM115 - closed by Child.close()
        popen = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=str(cwd) if cwd is not None else None,
            start_new_session=True,
        )
        child = Child(name, popen, log_path, log)
        self.children[name] = child
        return child

    def python(self, name: str, args: Sequence[str], **options: object) -> Child:
        """Run this interpreter: ``python ARGS...``."""
        return self.spawn(name, [sys.executable, *args], **options)  # type: ignore[arg-type]

    def tether(self, name: str, args: Sequence[str], **options: object) -> Child:
        """Run the tether command with this interpreter: ``python -m tether ARGS...``."""
        return self.python(name, ["-m", "tether", *args], **options)

    def live(self) -> list[Child]:
        return [c for c in self.children.values() if c.alive]

    def close(self) -> None:
        for child in self.children.values():
            child.close()

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
