"""What a run records as its outcome: process crashes record nothing; refusals are recorded."""

from __future__ import annotations

from collections.abc import Callable

import pytest

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
