"""What a run records as its outcome: process crashes record nothing; refusals are recorded."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tether.runtime.errors import DeduplicatedError

import tether
from tether import Status, Tether

from .helpers import idle, ops


def test_a_keyboard_interrupt_in_a_step_leaves_the_workflow_open_for_recovery(
    make_app: Callable[..., Tether],
) -> None:
    interrupts = [KeyboardInterrupt()]

    def build(app: Tether) -> Callable[[], str]:
        @app.step(name="touchy")
        def touchy() -> str:
            if interrupts:
                raise interrupts.pop()
            return "done"

        @app.workflow(name="wf")
        def wf() -> str:
            return touchy()

        return wf

    first = make_app()
    wf = build(first)
    first.launch()
    with pytest.raises(KeyboardInterrupt):
        wf()
    [rec] = first.list_workflows()
    assert rec.status == Status.PENDING and rec.error is None
    assert ops(first, rec.workflow_id) == []
    first.shutdown(grace=0.5)  # the process goes away; its lease is released

    second = make_app()
    build(second)
    second.launch()
    assert second.retrieve_workflow(rec.workflow_id).result(timeout=10) == "done"


def test_system_exit_in_a_background_workflow_records_nothing(
    make_app: Callable[..., Tether],
) -> None:
    app = make_app()

    @app.step(name="quit")
    def quit_() -> None:
        raise SystemExit(3)

    @app.workflow(name="wf")
    def wf() -> None:
        quit_()

    app.launch()
    h = app.start_workflow(wf)
    idle(app)
    assert app.get_workflow(h.workflow_id).status == Status.PENDING


def test_a_dedup_refusal_inside_a_workflow_is_recorded_and_replayed(
    make_app: Callable[..., Tether],
) -> None:
    app = make_app()
    q = app.queue("q")

    @app.workflow(name="holder")
    def holder() -> str:
        return str(tether.recv("go", timeout=30))

    @app.step(name="after")
    def after() -> str:
        return "after"

    @app.workflow(name="outer")
    def outer() -> str:
        try:
            q.enqueue(holder, dedup_id="k")
            outcome = "enqueued"
        except DeduplicatedError:
            outcome = "refused"
        return f"{outcome} {after()}"

    app.launch()
    held = q.enqueue(holder, dedup_id="k")
    h = app.start_workflow(outer)
    assert h.result(timeout=10) == "refused after"
    assert ops(app, h.workflow_id)[0] == (0, "enqueue", "holder")
    app.send(held.workflow_id, "done", "go")
    assert held.result(timeout=10) == "done"
    # The dedup id is free now; a fork that replays the enqueue still takes the same path.
    fork = app.versions.fork(h.workflow_id, 1)
    assert app.retrieve_workflow(fork.workflow_id).result(timeout=10) == "refused after"
