"""The next split: one decision gives both Cloud Run traffic and tether's routing, so direct
starts (which follow the revision that got the request) and queued starts (which follow
routing) move together (pure; no I/O).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tether.runtime.errors import ConfigurationError


@dataclass(frozen=True)
class Side:
    """One side of a rollout: a platform revision, the tether version it runs, its tag."""

    revision: str
    version: str
    tag: str


@dataclass(frozen=True)
class Split:
    traffic: dict[str, int]  # revision -> percent, sums to 100
    tags: dict[str, str]  # revision -> tag (kept at 0 % so it stays reachable)
    current: str  # tether routing: the current version
    ramping: str | None = None
    percent: float = 0.0
    note: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "traffic": dict(self.traffic),
            "tags": dict(self.tags),
            "routing": {"current": self.current, "ramping": self.ramping, "percent": self.percent},
        }


def _check(percent: int) -> None:
    if not 0 <= percent <= 100:
        raise ConfigurationError(f"a split percent must be within 0..100, got {percent!r}")


def stage_split(baseline: Side, candidate: Side, percent: int) -> Split:
    """During a stage: ``percent`` to the candidate, the rest to the baseline; the baseline
    stays current in routing and the candidate ramps by the same share (also at 100 %, which
    is not yet a promotion)."""
    _check(percent)
    if baseline.revision == candidate.revision:
        raise ConfigurationError(
            f"the candidate {candidate.revision!r} is already the serving revision"
        )
    traffic = {baseline.revision: 100 - percent, candidate.revision: percent}
    if baseline.version == candidate.version:
        # Two revisions of one tether version: routing has nothing to ramp.
        return Split(traffic, _tags(baseline, candidate), baseline.version)
    return Split(
        traffic,
        _tags(baseline, candidate),
        current=baseline.version,
        ramping=candidate.version if percent > 0 else None,
        percent=float(percent),
    )


def promote_split(baseline: Side, candidate: Side) -> Split:
    """Promotion: the candidate is current with all traffic; the baseline keeps its tag at
    0 % so that its open workflows can still reach it."""
    return Split({candidate.revision: 100}, _tags(baseline, candidate), candidate.version)


def rollback_split(baseline: Side, candidate: Side) -> Split:
    """Rollback: all traffic and new work back to the baseline; the candidate keeps its tag at
    0 % so that the workflows it started finish on its own code."""
    return Split({baseline.revision: 100}, _tags(baseline, candidate), baseline.version)


def _tags(baseline: Side, candidate: Side) -> dict[str, str]:
    if baseline.tag == candidate.tag:
        raise ConfigurationError(
            f"baseline and candidate need different tags, both are {baseline.tag!r}"
        )
    return {baseline.revision: baseline.tag, candidate.revision: candidate.tag}


def default_tag(version: str) -> str:
    """A short lowercase tag for a revision's version: ``v-`` and ``[a-z0-9-]`` only."""
    cleaned = "".join(c if c.isalnum() else "-" for c in version.lower()).strip("-")
    return ("v-" + cleaned)[:46].rstrip("-")
