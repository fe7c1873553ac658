"""Cancel stops a workflow (and its children) at the next step boundary; resume continues it."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from tether.runtime.errors import WorkflowCancelledError

import tether
from tether import Status, Tether

from .helpers import idle, ops, wait_until


def test_cancel_at_step_boundary_then_resume(make_app: Callable[..., Tether]) -> None:
    app = make_app()
    calls = Counter()
    inside, release = threading.Event(), threading.Event()

    @app.step(name="first")
    def first() -> None:
        calls["first"] += 1

    @app.step(name="blocking")
    def blocking() -> None:
        calls["blocking"] += 1
        inside.set()
        release.wait(10)

    @app.step(name="last")
    def last() -> None:
        calls["last"] += 1

    @app.workflow(name="wf")
    def wf() -> str:
        first()
        blocking()
        last()
        return "finished"

    app.launch()
    h = app.start_workflow(wf, workflow_id="c")
    assert inside.wait(10)
    assert app.cancel("c") == ["c"]
    release.set()  # the step in flight finishes; the workflow stops right after it
    with pytest.raises(WorkflowCancelledError):
        h.result(timeout=10)
    idle(app)
    assert calls == {"first": 1, "blocking": 1}
    assert ops(app, "c") == [(0, "step", "first")]  # the cancelled step's result is dropped
    assert h.status() == Status.CANCELLED

    assert app.resume("c").result(timeout=10) == "finished"
    assert calls == {"first": 1, "blocking": 2, "last": 1}
    assert app.cancel("c") == []  # finished: nothing to cancel


def test_cancel_reaches_children_and_resume_reopens_them(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.workflow(name="child")
    def child() -> object:
        return tether.recv("go", timeout=30)

    @app.workflow(name="parent")
    def parent() -> object:
        return app.start_workflow(child).result()

    app.launch()
    h = app.start_workflow(parent, workflow_id="p")
    wait_until(lambda: ops(app, "p-0") if app.list_workflows(name="child") else None)
    assert sorted(app.cancel("p")) == ["p", "p-0"]
    idle(app)  # both stopped running, not just marked
    assert app.get_workflow("p-0").status == Status.CANCELLED
    with pytest.raises(WorkflowCancelledError):
        h.result(timeout=1)

    app.send("p-0", "resumed", topic="go")
    assert app.resume("p").result(timeout=10) == "resumed"
    assert app.get_workflow("p-0").status == Status.SUCCESS
    assert ops(app, "p") == [(0, "child", "child")]
    assert len(app.list_workflows()) == 2
