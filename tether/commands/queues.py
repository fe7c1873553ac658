"""Queues and routing: the load on each queue, and where new queued work goes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ..app import Tether
from ..queues import QueueLimits, QueueStats
from .records import Record


@dataclasses.dataclass(frozen=True)
class RoutingState(Record):
    """Where new queued work goes, and the versions it may be routed to."""

    current: str | None  # None until an executor first launches
    ramping: str | None
    percent: float  # share of new workflow ids routed to ramping
    known_versions: list[str]


def queue_stats(app: Tether, window: float = 60.0) -> list[QueueStats]:
    """Per queue and version: waiting, running, oldest wait, and over the last ``window``
    seconds finished counts, throughput and start-latency percentiles."""
    return app.queues.stats(window)


def show_routing(app: Tether) -> RoutingState:
    """The current version and the ramping share of new work."""
    r = app.routing()
    return RoutingState(r.current, r.ramping, r.percent, app.routing.known_versions())


def set_routing(
    app: Tether,
    *,
    current: str | None = None,
    ramping: str | None = None,
    percent: float | None = None,
) -> RoutingState:
    """Route new queued work: ``current`` (None: keep it), and ``percent`` % to ``ramping``
    (no ramping: every new workflow goes to current)."""
    if current is None:
        app.routing.set(ramping=ramping, percent=percent)
    else:
        app.routing.set(current=current, ramping=ramping, percent=percent)
    return show_routing(app)


def queue_limits(app: Tether, name: str) -> QueueLimits:
    """A queue's declared, run-time and effective limits, and the log of their changes."""
    return app.queues.limits(name)


def set_queue_limits(
    app: Tether, name: str, *, reset: Sequence[str] = (), **limits: Any
) -> QueueLimits:
    """Change a queue's limits at run time (None removes a limit; ``reset`` returns limits
    to their declared values); executors apply it within about a second."""
    return app.queues.set_limits(name, reset=reset, **limits)
