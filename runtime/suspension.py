"""When a running workflow gives up its thread and lease at a durable wait (suspension).

A workflow waiting in ``sleep`` or ``recv`` holds a thread (sync) or a task (async), a queue
slot and its in-memory state for as long as it waits. Past a short grace it is *suspended*
instead: its wake condition goes on its row (see ``store.waits``), it holds no lease, and
the run stops with :class:`SuspendedInterrupt`. When the condition holds, any executor of
its version claims it and re-runs it, answering everything before the wait from history.
The decision is a pure function (:func:`should_suspend`); the wait is described by
:class:`Wait`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .errors import SuspendedInterrupt

__all__ = ["CHILD", "EVENT", "RECV", "SLEEP", "SuspendedInterrupt", "Wait", "should_suspend"]

SLEEP, RECV, CHILD, EVENT = "sleep", "recv", "child", "event"


@dataclass(frozen=True)
class Wait:
    """A durable wait as the database records it while the workflow is suspended."""

    kind: str  # SLEEP, RECV, CHILD or EVENT
    position: int  # the operation that waits (not recorded until it ends)
    until_ms: int | None  # its deadline (epoch ms); None: none
    topic: str | None = None  # what a recv waits for; the key an EVENT wait waits for
    target: str | None = None  # the workflow a CHILD or EVENT wait waits for
    since: float = field(default_factory=time.monotonic)  # when the wait began, in-process

    def waited(self) -> float:
        return time.monotonic() - self.since

    def grace_left(self, grace: float | None) -> float:
        """Seconds until the wait may suspend (infinite when it never may)."""
        return float("inf") if grace is None else max(0.0, grace - self.waited())


def should_suspend(
    *,
    waited: float,
    grace: float | None,
    left_ms: int | None,
    others_in_flight: bool,
    interrupted: bool,
) -> bool:
    """Whether a wait that is not satisfied yet suspends the workflow now.

    ``grace`` None disables suspension. A wait suspends once it has lasted ``grace``
    seconds, unless it ends within another ``grace`` anyway (a replay would cost more than
    the wait), the run is being stopped for another reason, or other operations of the run
    are still in flight (async branches running beside the wait: stopping would discard
    their work).
    """
    if grace is None or interrupted or others_in_flight or waited < grace:
        return False
    return left_ms is None or left_ms > grace * 1000
