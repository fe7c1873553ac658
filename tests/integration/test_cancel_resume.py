"""Cancel stops a workflow (and its children) at the next step boundary; resume continues it."""

from __future__ import annotations

import subprocess
import sys
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


_CANCEL = """
import sys
from tether import Tether
app = Tether(app_name=sys.argv[1], database_url=sys.argv[2], version="other",
             install_signal_handlers=False)
print(app.cancel(sys.argv[3]))
"""


def test_cancel_from_another_process_stops_a_waiting_workflow(
    make_app: Callable[..., Tether], app_name: str, database_url: str
) -> None:
    """The executor finds a cancel written by another process (no local signal reaches it)
    and interrupts the durable wait, instead of sleeping on for two minutes."""
    app = make_app()

    @app.workflow(name="napper")
    def napper() -> str:
        tether.sleep(120)
        return "woke"

    app.launch()
    h = app.start_workflow(napper, workflow_id="far")
    wait_until(lambda: app.list_steps("far"), what="the sleep to be recorded")
    assert "far" in app.engine.running_ids()
    out = subprocess.run(
        [sys.executable, "-c", _CANCEL, app_name, database_url, "far"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.strip() == "['far']"
    # The workflow thread itself stops (the status alone is already CANCELLED in the row).
    wait_until(lambda: "far" not in app.engine.running_ids(), what="the sleeping run to stop")
    with pytest.raises(WorkflowCancelledError):
        h.result(timeout=5)
    assert ops(app, "far") == [(0, "sleep", "sleep")]
