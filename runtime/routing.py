"""Routing of new work between versions (pure; no I/O).

An app has a current version and optionally a ramping version that receives a share of
new workflows. The share is decided by a stable hash of the workflow id, so retrying an
enqueue with the same id never changes the decision.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .errors import ConfigurationError

BUCKETS = 10_000  # 0.01 % resolution


@dataclass(frozen=True, slots=True)
class Routing:
    current: str | None
    ramping: str | None = None
    percent: float = 0.0

    def validate(self, known_versions: set[str] | None = None) -> Routing:
        if not 0.0 <= self.percent <= 100.0:
            raise ConfigurationError(f"percent must be within 0..100, got {self.percent}")
        if self.ramping is not None and self.ramping == self.current:
            raise ConfigurationError(
                f"ramping version {self.ramping!r} equals the current version: "
                "promote it with current=... instead"
            )
        if self.ramping is None and self.percent not in (0, 0.0):
            raise ConfigurationError("percent > 0 needs a ramping version")
        if known_versions is not None:
            for v in (self.current, self.ramping):
                if v is not None and v not in known_versions:
                    raise ConfigurationError(
                        f"unknown version {v!r}: known versions are {sorted(known_versions)} "
                        "(a version becomes known when an executor running it launches)"
                    )
        return self


def bucket(workflow_id: str) -> int:
    """A stable bucket in [0, BUCKETS) for a workflow id (same on every machine and run)."""
    digest = hashlib.sha256(workflow_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def route(workflow_id: str, routing: Routing) -> str | None:
    """The version new work with this id goes to (None: no current version known yet)."""
    if routing.ramping is not None and bucket(workflow_id) < routing.percent * BUCKETS / 100:
        return routing.ramping
    return routing.current
