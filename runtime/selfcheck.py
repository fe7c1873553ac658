"""The lease self-check: before a step body runs, does this executor still hold the workflow?

Fencing stops a stale holder's *writes*, but not its step bodies: a process paused (SIGSTOP,
a long GC, CPU starvation) past its lease may wake after a peer claimed its workflow and run
a step the peer already checkpointed. So before every step attempt an executor asks its
:class:`LeaseClock`, measured on the monotonic clock (a pause cannot hide from it):

* its last successful heartbeat must be younger than the lease minus a safety margin, and
* its heartbeats must have had no gap longer than that since the run acquired its lease
  (a paused process's heartbeat thread may beat first after waking; a fresh heartbeat
  then says nothing about what peers claimed during the pause).

Otherwise the run *revalidates*: it heartbeats, then bumps its own lease epoch with one
fenced write. That write fails if a peer claimed the workflow (the run stops, the peer's
result stands), and once it succeeds no peer's claim prepared during the pause can succeed
(claims compare-and-set the epoch).

What remains: a pause *during* a step body, or between this check and the body's first
effect, lets a peer re-run that step — steps are at-least-once, as they are for a crash
mid-step. The margin (a quarter of the lease by default) absorbs the time from the check
to the body and clock skew between hosts, which peers use to judge a heartbeat's age.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from enum import Enum


class Verdict(Enum):
    OK = "ok"  # the lease is certainly held: run the body
    REVALIDATE = "revalidate"  # heartbeat and re-take the lease (one write) before the body


def lease_verdict(
    *,
    now: float,
    last_beat: float,
    broken_at: float,
    held_since: float,
    lease: float,
    margin: float,
) -> Verdict:
    """All times in monotonic seconds. ``broken_at``: when a heartbeat gap was last noticed;
    ``held_since``: when the run's lease was acquired or last revalidated."""
    if now - last_beat >= lease - margin:
        return Verdict.REVALIDATE
    if held_since <= broken_at:
        return Verdict.REVALIDATE
    return Verdict.OK


def default_margin(lease: float) -> float:
    """A quarter of the lease: room for the check-to-body latency and clock skew."""
    return lease / 4


class LeaseClock:
    """An executor's heartbeat history, as the self-check needs it (monotonic seconds).

    ``beat`` is set by the executor that heartbeats for this engine; without one (an engine
    that never launched an executor) nobody can vouch for a lease and the check is off.
    """

    def __init__(self, lease: float, margin: float | None = None) -> None:
        self.lease = lease
        self.margin = default_margin(lease) if margin is None else margin
        self.last_beat = time.monotonic()
        self.broken_at = -math.inf
        self.beat: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def succeeded(self, started: float) -> None:
        """A heartbeat issued at monotonic ``started`` committed (now)."""
        end = time.monotonic()
        with self._lock:
            if end - self.last_beat >= self.lease - self.margin:
                self.broken_at = end  # peers may have judged this executor dead meanwhile
            self.last_beat = max(self.last_beat, started)

    def verdict(self, held_since: float) -> Verdict:
        if self.beat is None:
            return Verdict.OK
        with self._lock:
            return lease_verdict(
                now=time.monotonic(),
                last_beat=self.last_beat,
                broken_at=self.broken_at,
                held_since=held_since,
                lease=self.lease,
                margin=self.margin,
            )
