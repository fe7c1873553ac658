"""Service min/max instances from queue load (pure; no I/O).

Scale-out is immediate so that a burst gets instances before requests pile up; scale-in is
debounced: the load must ask for fewer instances for ``scale_in_delay`` seconds in a row.
Bounds always stay within the policy's floor and ceiling.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tether.runtime.errors import ConfigurationError


@dataclass(frozen=True)
class ScalePolicy:
    min_floor: int = 0
    max_ceiling: int = 100
    #: Workflows one instance runs at once (its queues' worker concurrency).
    per_instance: int = 10
    #: Extra capacity over the load, e.g. 1.25 = 25 % headroom.
    headroom: float = 1.25
    #: Work waiting longer than this asks for one more instance than the count suggests.
    max_wait_s: float = 5.0
    #: Seconds the load must stay low before instances are removed.
    scale_in_delay: float = 300.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_floor <= self.max_ceiling or self.max_ceiling < 1:
            raise ConfigurationError(
                f"need 0 <= min_floor <= max_ceiling and max_ceiling >= 1, got "
                f"{self.min_floor}..{self.max_ceiling}"
            )
        if self.per_instance < 1 or self.headroom < 1.0 or self.scale_in_delay < 0:
            raise ConfigurationError("need per_instance >= 1, headroom >= 1, scale_in_delay >= 0")


@dataclass(frozen=True)
class Load:
    waiting: int
    running: int
    oldest_wait_s: float | None = None

    @classmethod
    def from_stats(cls, stats: Iterable[Mapping[str, Any]], queues: Iterable[str] = ()) -> Load:
        """Sum ``app.queue_stats()`` rows (of ``queues`` only, when given)."""
        wanted = set(queues)
        rows = [r for r in stats if not wanted or r["queue"] in wanted]
        waits = [r["oldest_wait_s"] for r in rows if r.get("oldest_wait_s") is not None]
        return cls(
            waiting=sum(int(r["waiting"]) for r in rows),
            running=sum(int(r["running"]) for r in rows),
            oldest_wait_s=max(waits) if waits else None,
        )


@dataclass(frozen=True)
class ScaleDecision:
    min_instances: int
    max_instances: int
    change: bool
    reason: str
    low_since_ms: int | None  # when the load started asking for fewer (None: it does not)


def desired(load: Load, policy: ScalePolicy, current_min: int | None) -> int:
    need = math.ceil((load.waiting + load.running) * policy.headroom / policy.per_instance)
    if load.oldest_wait_s is not None and load.oldest_wait_s > policy.max_wait_s:
        need = max(need, (current_min or 0) + 1)
    return max(policy.min_floor, min(policy.max_ceiling, need))


def decide(
    load: Load,
    policy: ScalePolicy,
    *,
    current_min: int | None,
    current_max: int | None,
    now_ms: int,
    low_since_ms: int | None,
) -> ScaleDecision:
    want = desired(load, policy, current_min)
    top = policy.max_ceiling
    what = f"{load.waiting} waiting, {load.running} running"
    if load.oldest_wait_s is not None:
        what += f", oldest waits {load.oldest_wait_s:.1f}s"
    if current_min is None or current_min < want:
        return ScaleDecision(want, top, True, f"scale out to {want}: {what}", None)
    if current_min > want:
        since = now_ms if low_since_ms is None else low_since_ms
        held = (now_ms - since) / 1000
        if held >= policy.scale_in_delay:
            return ScaleDecision(
                want, top, True, f"scale in to {want} after {held:.0f}s of low load: {what}", None
            )
        return ScaleDecision(
            current_min,
            top,
            current_max != top,
            f"load asks for {want}, low for {held:.0f}s of {policy.scale_in_delay:.0f}s: {what}",
            since,
        )
    changed = current_max != top
    reason = f"max to {top}" if changed else f"steady at {want}"
    return ScaleDecision(want, top, changed, f"{reason}: {what}", None)
