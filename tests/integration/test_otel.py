"""OpenTelemetry (tether.otel) with the SDK's in-memory exporters: the span tree of a run,
a failing step's error status, a recovered run in the caller's trace, and the metrics."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from tether import Status, Tether

from .helpers import wait_until
from .test_recovery_attempts import crash


class Otel:
    """A tracer and a meter provider recording in memory, shared by the apps of a test."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.tracer = self.tracer_provider.get_tracer("test")

    def instrument(self, app: Tether) -> Tether:
        app.instrument(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider)
        return app

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if name is None or s.name == name]

    def span(self, name: str, **attributes: Any) -> ReadableSpan:
        """The one finished span called ``name`` with these attributes (waits for it)."""

        def found() -> list[ReadableSpan]:
            return [
                s
                for s in self.spans(name)
                if all((s.attributes or {}).get(k) == v for k, v in attributes.items())
            ]

        spans = wait_until(found, what=f"span {name!r} {attributes}")
        assert len(spans) == 1, spans
        return spans[0]

    def points(self, metric: str) -> list[Any]:
        """The data points of ``metric`` collected now (all apps, all attributes)."""
        data = self.reader.get_metrics_data()
        out: list[Any] = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == metric:
                        out.extend(m.data.data_points)
        return out

    def count(self, metric: str, **attributes: Any) -> float:
        """The sum of ``metric``'s points (counts, for a histogram) matching ``attributes``."""
        total = 0.0
        for p in self.points(metric):
            if all(p.attributes.get(k) == v for k, v in attributes.items()):
                total += p.count if hasattr(p, "bucket_counts") else p.value
        return total


@pytest.fixture
def otel(make_app: Callable[..., Tether]) -> Iterator[Otel]:
    o = Otel()
    yield o
    o.tracer_provider.shutdown()
    o.meter_provider.shutdown()


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def test_a_run_and_its_steps_are_a_span_tree_under_the_callers_span(
    make_app: Callable[..., Tether], otel: Otel
) -> None:
    app = otel.instrument(make_app())

    @app.step(name="fetch")
    def fetch(x: int) -> int:
        return x + 1

    @app.workflow(name="child")
    def child(x: int) -> int:
        return fetch(x)

    @app.workflow(name="agent")
    def agent(x: int) -> int:
        return fetch(x) + app.start_workflow(child, x, workflow_id="kid").result()

    app.launch()
    with otel.tracer.start_as_current_span("request") as request:
        assert app.start_workflow(agent, 1, workflow_id="a-1").result(timeout=10) == 4
    ctx = request.get_span_context()
    # The caller's context is stored with the workflow (what a recovered run starts under).
    stored = app.get_workflow("a-1").trace_context
    assert stored is not None
    assert stored.startswith(f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-")

    run = otel.span("workflow agent", **{"tether.workflow.id": "a-1"})
    assert run.context.trace_id == ctx.trace_id
    assert _parent_id(run) == ctx.span_id
    attrs = dict(run.attributes or {})
    assert attrs["tether.workflow.name"] == "agent"
    assert attrs["tether.version"] == "v1"
    assert attrs["tether.executor"] == app.executor_id
    assert attrs["tether.recovered"] is False
    assert attrs["tether.outcome"] == "success"
    assert run.status.status_code is not StatusCode.ERROR

    step = otel.span("step fetch", **{"tether.workflow.id": "a-1"})
    assert _parent_id(step) == run.context.span_id
    assert (step.attributes or {})["tether.attempt"] == 1
    assert (step.attributes or {})["tether.step.position"] == 0
    # The child workflow nests under its parent's run, its step under its own run.
    kid = otel.span("workflow child", **{"tether.workflow.id": "kid"})
    assert _parent_id(kid) == run.context.span_id
    kid_step = otel.span("step fetch", **{"tether.workflow.id": "kid"})
    assert _parent_id(kid_step) == kid.context.span_id
    assert app.get_workflow("kid").trace_context is not None


def test_async_steps_gathered_are_children_of_their_run(
    make_app: Callable[..., Tether], otel: Otel
) -> None:
    app = otel.instrument(make_app())

    @app.step(name="leg")
    async def leg(i: int) -> int:
        await asyncio.sleep(0.01)
        return i

    @app.workflow(name="fan")
    async def fan() -> int:
        return sum(await asyncio.gather(leg(1), leg(2), leg(3)))

    app.launch()
    with otel.tracer.start_as_current_span("request") as request:
        assert app.start_workflow(fan, workflow_id="f").result(timeout=10) == 6
    run = otel.span("workflow fan")
    assert _parent_id(run) == request.get_span_context().span_id
    wait_until(lambda: len(otel.spans("step leg")) == 3, what="three step spans")
    assert {_parent_id(s) for s in otel.spans("step leg")} == {run.context.span_id}


def test_a_failing_step_has_error_status_with_its_exceptions(
    make_app: Callable[..., Tether], otel: Otel
) -> None:
    app = otel.instrument(make_app())

    @app.step(name="charge", retries=1, interval=0.01)
    def charge() -> None:
        raise ValueError("card declined")

    @app.workflow(name="pay")
    def pay() -> None:
        charge()

    app.launch()
    with pytest.raises(ValueError):
        app.start_workflow(pay, workflow_id="p").result(timeout=10)
    step = otel.span("step charge")
    assert step.status.status_code is StatusCode.ERROR
    assert "card declined" in (step.status.description or "")
    assert (step.attributes or {})["tether.attempt"] == 2
    assert (step.attributes or {})["tether.outcome"] == "error"
    # The retried attempt and the final one, each recorded with its exception.
    assert [e.name for e in step.events] == ["exception", "exception"]
    run = otel.span("workflow pay")
    assert run.status.status_code is StatusCode.ERROR
    assert (run.attributes or {})["tether.outcome"] == "error"


def test_a_run_recovered_by_another_executor_is_in_the_callers_trace(
    make_app: Callable[..., Tether], otel: Otel
) -> None:
    in_act, release_a = threading.Event(), threading.Event()

    def build(executor_id: str) -> Tether:
        app = otel.instrument(make_app(executor_id=executor_id))

        @app.step(name="plan")
        def plan() -> str:
            return "plan"

        @app.step(name="act")
        def act(plan: str) -> str:
            if executor_id == "exec-a":  # the first executor "dies" in this step
                in_act.set()
                release_a.wait(10)
            return f"{plan}:{executor_id}"

        @app.workflow(name="agent")
        def agent() -> str:
            return act(plan())

        return app.launch()

    a = build("exec-a")
    with otel.tracer.start_as_current_span("request") as request:
        a.start_workflow("agent", workflow_id="r-1")
    assert in_act.wait(10)
    crash(a)
    b = build("exec-b")
    assert b.retrieve_workflow("r-1").result(timeout=10) == "plan:exec-b"
    release_a.set()  # the stale run's checkpoint is fenced out: it ends "fenced"

    ctx = request.get_span_context()
    recovered = otel.span("workflow agent", **{"tether.executor": "exec-b"})
    attrs = dict(recovered.attributes or {})
    assert attrs["tether.recovered"] is True
    assert attrs["tether.crashed"] is True
    assert attrs["tether.run.reason"] == "recovery"
    assert attrs["tether.outcome"] == "success"
    assert recovered.context.trace_id == ctx.trace_id
    assert _parent_id(recovered) == ctx.span_id
    act = otel.span("step act", **{"tether.executor": "exec-b"})
    assert _parent_id(act) == recovered.context.span_id
    # The first run is in the same trace: one trace shows the agent's whole life.
    first = otel.span("workflow agent", **{"tether.executor": "exec-a"})
    assert (first.attributes or {})["tether.recovered"] is False
    assert (first.attributes or {})["tether.outcome"] == "fenced"
    assert first.context.trace_id == ctx.trace_id
    assert otel.count("tether.recoveries", **{"tether.crashed": True}) == 1


def test_metrics_count_runs_steps_queue_waits_and_parked_workflows(
    make_app: Callable[..., Tether], otel: Otel
) -> None:
    app = otel.instrument(make_app())
    q = app.queue("work")
    diverge = {"on": False}

    @app.step(name="a")
    def a() -> int:
        return 1

    @app.step(name="b")
    def b() -> int:
        return 2

    @app.workflow(name="job")
    def job(i: int) -> int:
        return a() + i

    @app.workflow(name="fragile")
    def fragile() -> int:
        if diverge["on"]:
            return b()  # a different step at position 0: non-determinism
        a()
        raise RuntimeError("stop after a")

    app.launch()
    for i in range(3):
        app.start_workflow(job, i).result(timeout=10)
    handles = [q.enqueue(job, 10 + i) for i in range(2)]
    for h in handles:
        h.result(timeout=10)
    with pytest.raises(RuntimeError):
        app.start_workflow(fragile, workflow_id="fr").result(timeout=10)
    diverge["on"] = True
    app.resume("fr")
    wait_until(lambda: app.get_workflow("fr").status == Status.PARKED, what="fr to park")

    runs = "tether.workflow.runs"
    wait_until(lambda: otel.count(runs, **{"tether.outcome": "parked"}) == 1, what="metrics")
    v1 = {"tether.version": "v1"}
    assert otel.count(runs, **{"tether.workflow.name": "job", "tether.outcome": "success"}) == 5
    assert otel.count(runs, **{"tether.workflow.name": "fragile", "tether.outcome": "error"}) == 1
    assert otel.count("tether.steps", **{"tether.step.name": "a", **v1}) == 6
    assert otel.count("tether.steps", **{"tether.step.name": "b"}) == 0  # never executed
    assert otel.count("tether.step.duration", **{"tether.step.name": "a"}) == 6
    assert otel.count("tether.workflows.parked", **{"tether.workflow.name": "fragile"}) == 1
    assert otel.count("tether.queue.enqueued", **{"tether.queue": "work"}) == 2
    assert otel.count("tether.queue.wait", **{"tether.queue": "work"}) == 2
    # The resume released it: taken over by a recovery claim, from no crash.
    assert otel.count("tether.recoveries", **{"tether.crashed": False}) == 1
    assert otel.count("tether.recoveries", **{"tether.crashed": True}) == 0
    # The depth gauge reads the database: nothing waits now.
    q.enqueue(job, 99, delay=3600)
    depth = otel.count("tether.queue.depth", **{"tether.queue": "work", "tether.state": "waiting"})
    assert depth == 1


def test_no_observer_after_uninstrument_and_no_trace_context_stored(
    make_app: Callable[..., Tether], otel: Otel
) -> None:
    app = otel.instrument(make_app())

    @app.workflow(name="noop")
    def noop() -> int:
        return 1

    app.launch()
    app.uninstrument()
    assert app.engine.observer is None
    with otel.tracer.start_as_current_span("request"):
        app.start_workflow(noop, workflow_id="n").result(timeout=10)
    assert app.get_workflow("n").trace_context is None
    assert otel.spans("workflow noop") == []
