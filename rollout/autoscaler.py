"""The autoscaler: a scheduled workflow that sets the service's min/max instances from queue
load, within a policy's bounds. The decision is ``autoscale.decide`` (pure); this reads the
load and the autoscaler's memory, applies a change through the platform, and records it with
its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from tether.runtime.clock import now_ms
from tether.runtime.store import Store
from tether.runtime.store.queue_stats import queue_stats
from tether.runtime.store.rollouts import RolloutStore

from .actions import AUTOSCALER
from .autoscale import Load, ScalePolicy, decide
from .platforms import open_platform


def log_id(service: str) -> str:
    """The id the autoscaler's decisions are logged under (beside rollouts')."""
    return f"autoscale:{service}"


def scale_once(
    store: Store,
    spec: dict[str, Any],
    policy: ScalePolicy,
    *,
    queues: Sequence[str] = (),
    window: float = 60.0,
    now: int | None = None,
) -> dict[str, Any]:
    """Read load, decide, apply if needed; returns the decision (recorded when it changes)."""
    platform = open_platform(spec)
    state = platform.describe()
    service = state.name
    rollouts = RolloutStore(store.db, store.app_name)
    memory = rollouts.autoscale_state(service) or {}
    load = Load.from_stats(queue_stats(store.db, store.app_name, window), queues)
    t = now_ms() if now is None else now
    d = decide(
        load,
        policy,
        current_min=state.min_instances,
        current_max=state.max_instances,
        now_ms=t,
        low_since_ms=memory.get("low_since"),
    )
    out = {**asdict(d), "load": asdict(load), "service": service}
    if d.change:
        platform.set_scaling(min_instances=d.min_instances, max_instances=d.max_instances)
        rollouts.record(log_id(service), str(t), "scale", out)
    rollouts.save_autoscale_state(
        service,
        min_instances=d.min_instances,
        max_instances=d.max_instances,
        low_since=d.low_since_ms,
        last_change_at=t if d.change else memory.get("last_change_at"),
    )
    return out


def workflow_for(
    store: Callable[[], Store],
    spec: dict[str, Any],
    policy: ScalePolicy,
    queues: Sequence[str],
    window: float,
    step: Callable[[Callable[..., Any], str], Callable[..., Any]],
) -> tuple[str, Callable[..., Any]]:
    """The scheduled workflow for one service: (its name, its function)."""
    service = str(spec.get("service") or "service")
    name = f"{AUTOSCALER}:{service}"

    def once(tick_ms: int) -> dict[str, Any]:
        return scale_once(store(), spec, policy, queues=queues, window=window, now=tick_ms)

    checked = step(once, f"{name}.scale")

    def autoscale(tick: Any) -> dict[str, Any]:
        return dict(checked(int(tick.timestamp() * 1000)))

    return name, autoscale
