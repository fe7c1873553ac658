"""The scenario faults on the Cloud Run stand-in (needs google-cloud-run, imported lazily)."""

from __future__ import annotations

from tether.rollout.testing import CloudRunState

from .rollout_helpers import changes


class CloudFaults:
    """``Faults`` for a service of the stand-in: its own fault hooks and request log."""

    def __init__(self, state: CloudRunState, service: str) -> None:
        self.state = state
        self.service = service

    def deny(self, permission: str | None) -> None:
        if permission is None:
            with self.state.lock:
                self.state.denied.clear()
        else:
            self.state.deny(permission)

    def fail_wake(self, revision: str, failing: bool = True) -> None:
        with self.state.lock:
            if failing:
                self.state.unreachable.add(revision)
            else:
                self.state.unreachable.discard(revision)

    def set_ready(self, revision: str, ready: bool = True) -> None:
        self.state.set_ready(self.service, revision, ready)

    def wakes(self, revision: str) -> int:
        with self.state.lock:
            return self.state.wakes.count(revision)

    def shifts(self) -> list[dict[str, int]]:
        """Every traffic block written that moved traffic (tag-only writes left out)."""
        return changes(
            {
                str(t.get("revision")): int(t.get("percent", 0))
                for t in (r.body or {}).get("traffic", [])
            }
            for r in self.state.calls("UpdateService")
        )
