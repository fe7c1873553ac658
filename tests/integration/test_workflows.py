"""Workflows: idempotent ids, sync and async bodies, deterministic gather, listing."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import pytest
from tether.runtime.errors import ConfigurationError, WorkflowConflictError, WorkflowNotFoundError

import tether
from tether import Status, Tether

from .helpers import ops


def test_same_workflow_id_means_one_execution(make_app: Callable[..., Tether]) -> None:
    app = make_app()
    runs: list[str] = []

    @app.workflow(name="greet")
    def greet(who: str) -> str:
        runs.append(who)
        return f"hi {who}"

    @app.workflow(name="other")
    def other(who: str) -> str:
        return who

    app.launch()
    first = app.start_workflow(greet, "ann", workflow_id="g-1")
    again = app.start_workflow(greet, "bob", workflow_id="g-1")
    assert first.result(timeout=10) == again.result(timeout=10) == "hi ann"
    assert app.start_workflow(greet, "cy", workflow_id="g-1").result(timeout=10) == "hi ann"
    assert runs == ["ann"]
    assert [w.workflow_id for w in app.list_workflows()] == ["g-1"]
    with pytest.raises(WorkflowConflictError, match=r"'g-1' already belongs to workflow 'greet'"):
        app.start_workflow(other, "x", workflow_id="g-1")


def test_sync_workflow_called_directly(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.step(name="double")
    def double(x: int) -> int:
        return 2 * x

    @app.workflow(name="calc")
    def calc(x: int) -> dict[str, object]:
        return {"value": double(x) + 1, "id": tether.workflow_id()}

    app.launch()
    out = calc(20)
    assert out["value"] == 41
    rec = app.get_workflow(str(out["id"]))
    assert (rec.status, rec.name, rec.output) == (Status.SUCCESS, "calc", out)
    assert rec.inputs == {"args": [20], "kwargs": {}}


def test_async_workflow_with_async_and_sync_steps(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.step(name="fetch", retries=1, interval=0.01)
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    @app.step(name="double")
    def double(x: int) -> int:
        return 2 * x

    @app.workflow(name="pipeline")
    async def pipeline(x: int) -> list[int]:
        a = await fetch(x)
        b = double(a)
        await tether.sleep_async(0.01)
        return [a, b]

    app.launch()
    h = app.start_workflow(pipeline, 1, workflow_id="a-1")
    assert h.result(timeout=10) == [2, 4]
    assert asyncio.run(h.result_async(timeout=10)) == [2, 4]
    assert ops(app, "a-1") == [(0, "step", "fetch"), (1, "step", "double"), (2, "sleep", "sleep")]
    assert asyncio.run(pipeline(5)) == [6, 12]  # a direct call, awaited
    assert len(app.list_workflows(name="pipeline", status=Status.SUCCESS)) == 2


def test_gather_records_positions_in_call_order(make_app: Callable[..., Tether]) -> None:
    app = make_app()
    finished: list[str] = []
    calls = Counter()
    crash = {"after_gather": True}

    def make_step(name: str, delay: float) -> Callable[[], object]:
        @app.step(name=name)
        async def step() -> str:
            calls[name] += 1
            await asyncio.sleep(delay)
            finished.append(name)
            return name.upper()

        return step

    slow, medium, fast = make_step("slow", 0.2), make_step("medium", 0.1), make_step("fast", 0.0)

    @app.workflow(name="fan_out")
    async def fan_out() -> list[str]:
        out = await asyncio.gather(slow(), medium(), fast())
        if crash["after_gather"]:
            raise RuntimeError("crash after the gather")
        return list(out)

    app.launch()
    with pytest.raises(RuntimeError):
        app.start_workflow(fan_out, workflow_id="f").result(timeout=10)
    assert finished == ["fast", "medium", "slow"]
    assert ops(app, "f") == [(0, "step", "slow"), (1, "step", "medium"), (2, "step", "fast")]
    # Re-executed, the gather replays each result at its own position; nothing runs again.
    crash["after_gather"] = False
    assert app.resume("f").result(timeout=10) == ["SLOW", "MEDIUM", "FAST"]
    assert calls == {"slow": 1, "medium": 1, "fast": 1}


def test_list_workflows_filters_and_pages(make_app: Callable[..., Tether]) -> None:
    def build(version: str) -> tuple[Tether, Callable[..., int], Callable[..., None]]:
        app = make_app(version=version)

        @app.workflow(name="ok")
        def ok(i: int) -> int:
            return i

        @app.workflow(name="bad")
        def bad() -> None:
            raise ValueError("no")

        return app.launch(), ok, bad

    v1, ok1, bad1 = build("v1")
    v2, ok2, _ = build("v2")
    for i in range(4):
        v1.start_workflow(ok1, i, workflow_id=f"ok-{i}").result(timeout=10)
    with pytest.raises(ValueError):
        v1.start_workflow(bad1, workflow_id="bad-1").result(timeout=10)
    v2.start_workflow(ok2, 9, workflow_id="ok-v2").result(timeout=10)

    def ids(**filters: object) -> list[str]:
        return sorted(w.workflow_id for w in v1.list_workflows(**filters))  # type: ignore[arg-type]

    everything = v1.list_workflows()
    assert len(everything) == 6
    assert ids(status=Status.ERROR) == ["bad-1"]
    assert len(ids(status=[Status.SUCCESS, Status.ERROR])) == 6
    assert ids(status=Status.PENDING) == []
    assert ids(version="v2") == ["ok-v2"]
    assert ids(name="ok", version="v1") == ["ok-0", "ok-1", "ok-2", "ok-3"]
    assert ids(name="bad") == ["bad-1"]
    pages = [v1.list_workflows(limit=4, offset=o) for o in (0, 4, 8)]
    assert [len(p) for p in pages] == [4, 2, 0]
    paged = [w.workflow_id for page in pages for w in page]
    assert paged == [w.workflow_id for w in everything]
    assert [w.workflow_id for w in v1.list_workflows(limit=2, offset=1)] == paged[1:3]
    with pytest.raises(ConfigurationError, match="unknown status"):
        v1.list_workflows(status="DONE")


def test_list_steps(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.step(name="one")
    def one() -> int:
        return 1

    @app.workflow(name="wf")
    def wf() -> int:
        tether.set_event("progress", "half")
        return one() + one()

    app.launch()
    assert app.start_workflow(wf, workflow_id="w").result(timeout=10) == 2
    steps = app.list_steps("w")
    assert [(s.position, s.kind, s.name, s.output) for s in steps] == [
        (0, "set_event", "progress", '"half"'),
        (1, "step", "one", "1"),
        (2, "step", "one", "1"),
    ]
    assert all(s.version == "v1" and s.completed_at for s in steps)
    with pytest.raises(WorkflowNotFoundError):
        app.list_steps("nope")
