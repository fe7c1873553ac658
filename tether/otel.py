"""OpenTelemetry for tether (``pip install 'tether[otel]'``): traces and metrics of runs.

``Tether(..., telemetry=True)`` or ``app.instrument(tracer_provider=..., meter_provider=...)``
installs a :class:`Telemetry` on the app's engine (the global providers by default).

Traces: one span per workflow *run* and one per executed step, the step a child of its
run. A workflow's trace context is the caller's span when it was started or enqueued (a W3C
``traceparent`` stored on its row), and every run of it, the first and any recovered or
resumed one on any executor, is a *child* of that span: one trace shows an agent's whole
life, from the request that started it through every crash and takeover. Child workflows
are started from their parent's run span, so they nest under it. While a step runs its span
is the current one, so the spans a step's code makes (an HTTP client, an LLM SDK) nest under
it.

Metrics (attributes in brackets):
- ``tether.workflow.runs`` counter [name, version, outcome, recovered]: every run's end;
  the outcomes success, error, parked and cancelled end the workflow (see runtime.observe)
- ``tether.steps`` counter and ``tether.step.duration`` histogram (s) [step, version, outcome]
- ``tether.recoveries`` counter [name, version, crashed]: runs that took a workflow over
  (``crashed``: from a holder that crashed, else after a drain or a release such as a
  resume)
- ``tether.workflows.parked`` counter [name, version]: runs that parked their workflow
- ``tether.queue.enqueued`` counter [queue, name]; ``tether.queue.wait`` histogram (s)
  [queue, name]: from when a queued workflow was due to its dequeue
- ``tether.queue.depth`` observable gauge [queue, version, state]: waiting and running
  queued workflows, read from the database at each collection (every executor reports the
  same fleet-wide value: aggregate with max, not sum)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tether.runtime import observe
from tether.runtime.errors import ConfigurationError
from tether.runtime.store.queue_stats import queue_depths

try:
    from opentelemetry import context as otel_context
    from opentelemetry import metrics, trace
    from opentelemetry.trace import Span, SpanKind, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError as exc:  # pragma: no cover - exercised without the extra installed
    raise ConfigurationError(
        "tether's OpenTelemetry support needs the opentelemetry packages: "
        "pip install 'tether[otel]'"
    ) from exc

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
    from opentelemetry.trace import TracerProvider

    from tether.runtime.store import Store

__all__ = ["Telemetry", "current_traceparent"]

SCOPE = "tether"
_PROPAGATOR = TraceContextTextMapPropagator()
_ERRORS = (observe.ERROR, observe.PARKED)


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span (None without a valid one)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def _parent(traceparent: str | None) -> otel_context.Context:
    """The context a run's span starts in: the stored one, else a new trace (never whatever
    happens to be current in the worker thread)."""
    if traceparent is None:
        return otel_context.Context()
    return _PROPAGATOR.extract({"traceparent": traceparent}, context=otel_context.Context())


def _fail(span: Span, error: BaseException) -> None:
    span.record_exception(error)
    span.set_status(StatusCode.ERROR, f"{type(error).__name__}: {error}")


# The capture of trace context at starts and enqueues is process-wide (OpenTelemetry's
# current context is); it stays installed while any Telemetry is open.
_open = 0
_open_lock = threading.Lock()


class _Step:
    def __init__(self, run: _Run, name: str, position: int) -> None:
        self.run = run
        self.name = name
        info = run.info
        self.span = run.telemetry.tracer.start_span(
            f"step {name}",
            context=trace.set_span_in_context(run.span),
            kind=SpanKind.INTERNAL,
            attributes={
                "tether.workflow.id": info.workflow_id,
                "tether.workflow.name": info.name,
                "tether.version": info.version,
                "tether.executor": info.executor_id,
                "tether.step.name": name,
                "tether.step.position": position,
            },
        )
        self.token = otel_context.attach(trace.set_span_in_context(self.span))
        self.started = time.perf_counter()
        self.attempts = 1

    def retrying(self, error: BaseException, delay: float) -> None:
        self.span.record_exception(
            error, attributes={"tether.attempt": self.attempts, "tether.retry.delay_s": delay}
        )
        self.attempts += 1

    def ended(self, attempts: int, error: BaseException | None) -> None:
        elapsed = time.perf_counter() - self.started
        outcome = observe.outcome_of(error)
        span = self.span
        span.set_attribute("tether.attempt", attempts or self.attempts)
        span.set_attribute("tether.outcome", outcome)
        if outcome == observe.ERROR and error is not None:
            _fail(span, error)
        span.end()
        otel_context.detach(self.token)
        attrs = {
            "tether.step.name": self.name,
            "tether.version": self.run.info.version,
            "tether.outcome": outcome,
        }
        t = self.run.telemetry
        t.steps.add(1, attrs)
        t.step_duration.record(elapsed, attrs)


class _Run:
    def __init__(self, telemetry: Telemetry, info: observe.RunInfo) -> None:
        self.telemetry = telemetry
        self.info = info
        self.span = telemetry.tracer.start_span(
            f"workflow {info.name}",
            context=_parent(info.trace_context),
            kind=SpanKind.INTERNAL,
            attributes={
                "tether.app": telemetry.app_name,
                "tether.workflow.id": info.workflow_id,
                "tether.workflow.name": info.name,
                "tether.version": info.version,
                "tether.executor": info.executor_id,
                "tether.recovered": info.recovered,
                "tether.crashed": info.crashed,
                "tether.run.reason": info.reason,
                "tether.lease_epoch": info.lease_epoch,
            },
        )
        # Current while the body runs: its steps, children and enqueues start under it.
        self.token = otel_context.attach(trace.set_span_in_context(self.span))
        if info.recovered:
            telemetry.recoveries.add(1, {**self._attrs(), "tether.crashed": info.crashed})

    def _attrs(self) -> dict[str, Any]:
        return {"tether.workflow.name": self.info.name, "tether.version": self.info.version}

    def step(self, name: str, position: int) -> _Step:
        return _Step(self, name, position)

    def ended(self, outcome: str, error: BaseException | None) -> None:
        span = self.span
        span.set_attribute("tether.outcome", outcome)
        if outcome in _ERRORS and error is not None:
            _fail(span, error)
        span.end()
        otel_context.detach(self.token)
        attrs = self._attrs()
        if outcome == observe.PARKED:
            self.telemetry.parked.add(1, attrs)
        attrs["tether.outcome"] = outcome
        attrs["tether.recovered"] = self.info.recovered
        self.telemetry.runs.add(1, attrs)


class Telemetry:
    """The OpenTelemetry observer of one app's engine (see the module's docstring)."""

    def __init__(
        self,
        app_name: str,
        store: Store,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        from tether import __version__

        self.app_name = app_name
        self.store = store
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider)
        self.runs = meter.create_counter(
            "tether.workflow.runs", "{run}", "Workflow runs ended, by outcome"
        )
        self.steps = meter.create_counter("tether.steps", "{step}", "Steps executed, by outcome")
        self.step_duration = meter.create_histogram(
            "tether.step.duration", "s", "Time a step took, its retries included"
        )
        self.recoveries = meter.create_counter(
            "tether.recoveries", "{run}", "Runs that took over a workflow another run left"
        )
        self.parked = meter.create_counter(
            "tether.workflows.parked", "{workflow}", "Workflows parked on non-determinism"
        )
        self.enqueued_count = meter.create_counter(
            "tether.queue.enqueued", "{workflow}", "Workflows enqueued from this process"
        )
        self.queue_wait = meter.create_histogram(
            "tether.queue.wait", "s", "Time a queued workflow waited from due to dequeue"
        )
        self.queue_depth = meter.create_observable_gauge(
            "tether.queue.depth",
            [self._depths],
            "{workflow}",
            "Open queued workflows of the app, waiting or running",
        )
        self.closed = False
        global _open
        with _open_lock:
            _open += 1
            observe.set_capture(current_traceparent)

    # -- observe.Observer ---------------------------------------------------------------------

    def run(self, info: observe.RunInfo) -> _Run:
        return _Run(self, info)

    def enqueued(self, queue: str, name: str, version: str) -> None:
        self.enqueued_count.add(1, {"tether.queue": queue, "tether.workflow.name": name})

    def dequeued(self, queue: str, name: str, waited: float) -> None:
        self.queue_wait.record(waited, {"tether.queue": queue, "tether.workflow.name": name})

    # -- the gauge ----------------------------------------------------------------------------

    def _depths(self, options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        if self.closed:
            return []
        return [
            Observation(n, {"tether.queue": q, "tether.version": v, "tether.state": state})
            for q, v, state, n in queue_depths(self.store.db, self.app_name)
        ]

    def close(self) -> None:
        """Stop capturing trace context for this app (the engine's observer is removed by
        ``app.instrument``'s caller, see ``Tether.uninstrument``)."""
        global _open
        if self.closed:
            return
        self.closed = True
        with _open_lock:
            _open -= 1
            if _open == 0:
                observe.set_capture(None)
