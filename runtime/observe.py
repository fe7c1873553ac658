"""What the runtime tells an observer (tracing, metrics) about runs, steps and queues.

The runtime knows these facts at a few places: the engine's run loop (a run starts and
ends), the step attempt loop (a step starts, retries, ends), the dequeuer (a queued workflow
waited so long) and the enqueuer. It reports them to an :class:`Observer` when one is
installed on the engine, and does nothing otherwise: one ``is None`` test per run and per
step, no allocation, no import of any telemetry library (``tether.otel`` implements the
protocol with OpenTelemetry).

Trace context crosses processes through the database: the caller's context at a start or
an enqueue is captured (see :func:`capture`) and stored with the workflow, and every run of
it, the first or a recovered one on any executor, is reported with that stored context so
it joins the caller's trace.

Facts a run's outcome carries rather than an event of their own: a workflow parked on
non-determinism ends its run ``parked``; one suspended in a durable wait ends its run
``suspended`` and its next run starts with reason ``resume``; a recovered run starts with
reason ``recovery``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .errors import (
    CancelledInterrupt,
    DrainingInterrupt,
    LeaseLostInterrupt,
    NondeterminismError,
    StoreUnavailableInterrupt,
    SuspendedInterrupt,
    WorkflowInterrupt,
)

# Why a run starts.
START = "start"  # started or called here (a fresh workflow, or a child its parent started)
DEQUEUE = "dequeue"  # taken from a queue
# Taken over by a recovery claim: from a holder that crashed or drained, or after a release
# (an operator's resume, a migration); ``RunInfo.crashed`` says which.
RECOVERY = "recovery"
RESUME = "resume"  # woken from a durable wait it was suspended in

# How a run ends. The first four end the workflow; the others hand it on.
SUCCESS = "success"
ERROR = "error"
PARKED = "parked"  # non-determinism: kept intact for a fix (fork, migrate, a patch)
CANCELLED = "cancelled"
SUSPENDED = "suspended"  # in a durable wait: any executor of its version resumes it
RELEASED = "released"  # this executor drained: a peer continues it
FENCED = "fenced"  # another executor holds it now
UNAVAILABLE = "unavailable"  # the database was unreachable: it runs again from checkpoints
INTERRUPTED = "interrupted"  # any other stop at a step boundary

_STOPS: tuple[tuple[type[BaseException], str], ...] = (
    (SuspendedInterrupt, SUSPENDED),
    (CancelledInterrupt, CANCELLED),
    (DrainingInterrupt, RELEASED),
    (LeaseLostInterrupt, FENCED),
    (StoreUnavailableInterrupt, UNAVAILABLE),
    (WorkflowInterrupt, INTERRUPTED),
    (NondeterminismError, PARKED),
)


def outcome_of(error: BaseException | None) -> str:
    """The outcome a run (or a step) ended with, from what it raised (None: it returned)."""
    if error is None:
        return SUCCESS
    for kind, outcome in _STOPS:
        if isinstance(error, kind):
            return outcome
    return ERROR


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A run about to execute a workflow's body on this executor."""

    workflow_id: str
    name: str
    version: str  # the version this executor runs it as (its own)
    executor_id: str
    reason: str  # START, DEQUEUE, RECOVERY or RESUME
    lease_epoch: int
    trace_context: str | None  # the W3C traceparent stored at its start, if any
    crashed: bool = False  # a recovery from a holder that crashed (a recovery attempt)

    @property
    def recovered(self) -> bool:
        """True when this run continues a workflow another run started and did not finish."""
        return self.reason == RECOVERY


class StepObservation(Protocol):
    """One step executing (not replayed): told of each retry, then of its end once."""

    def retrying(self, error: BaseException, delay: float) -> None:
        """An attempt failed with ``error``; the next follows in ``delay`` seconds."""
        ...

    def ended(self, attempts: int, error: BaseException | None) -> None:
        """The step ended after ``attempts`` attempts: its recorded error, or None."""
        ...


class RunObservation(Protocol):
    """One run of a workflow, from the start of its body to its end."""

    def step(self, name: str, position: int) -> StepObservation:
        """A step at ``position`` starts executing (while it runs, it is the current one)."""
        ...

    def ended(self, outcome: str, error: BaseException | None) -> None:
        """The run ended (see the outcomes above); ``error``: what it raised, if anything."""
        ...


class Observer(Protocol):
    """Installed on an engine (``Engine.observer``) to watch its runs and queues."""

    def run(self, info: RunInfo) -> RunObservation:
        """A run starts; called in the thread (or task) that runs its body, before it."""
        ...

    def enqueued(self, queue: str, name: str, version: str) -> None:
        """A workflow was enqueued from this process (a new row, not a duplicate)."""
        ...

    def dequeued(self, queue: str, name: str, waited: float) -> None:
        """A queued workflow was taken after waiting ``waited`` seconds since it was due."""
        ...


# The process's source of the caller's trace context (a W3C traceparent), set by whatever
# instruments the process; None: nothing is captured and nothing is stored.
_capture: Callable[[], str | None] | None = None


def set_capture(source: Callable[[], str | None] | None) -> None:
    """Install (or with None remove) how starts and enqueues read the caller's context."""
    global _capture
    _capture = source


def capture() -> str | None:
    """The caller's current trace context, to store with a workflow it starts or enqueues."""
    source = _capture
    return None if source is None else source()
