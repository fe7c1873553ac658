"""What happened during the demo, in order: deploys, the replay verdict, traffic shifts, the
kill and its recoveries, the outcome. The live view shows its tail; without a terminal each
entry is printed as it happens."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    at: float  # seconds since the demo began
    kind: str  # deploy | replay | rollout | kill | recovery | approval | drain | outcome
    text: str


class Journal:
    def __init__(self, echo: Callable[[Entry], None] | None = None) -> None:
        self._t0 = time.monotonic()
        self._wall0 = time.time()
        self._lock = threading.Lock()
        self._entries: list[Entry] = []
        self._echo = echo

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def since_start(self, epoch: float) -> float:
        """A wall-clock time (e.g. a row's timestamp) as seconds since the demo began."""
        return epoch - self._wall0

    def add(self, kind: str, text: str) -> None:
        entry = Entry(round(self.elapsed, 1), kind, text)
        with self._lock:
            self._entries.append(entry)
        if self._echo is not None:
            self._echo(entry)

    def entries(self, kind: str | None = None) -> list[Entry]:
        with self._lock:
            return [e for e in self._entries if kind is None or e.kind == kind]
