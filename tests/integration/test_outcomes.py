"""What a run records as its outcome: process crashes record nothing; refusals are recorded."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import and_, delete, update
from tether.runtime.errors import DeduplicatedError
from tether.runtime.store.schema import operations as O

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


def test_a_fork_that_reads_its_own_event_replays(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.step(name="after")
    def after(x: str) -> str:
        return x.upper()

    @app.workflow(name="selfread")
    def selfread() -> str:
        tether.set_event("k", "v")
        got = app.get_event(tether.workflow_id(), "k", timeout=5)
        return str(after(got))

    app.launch()
    h = app.start_workflow(selfread)
    assert h.result(timeout=10) == "V"
    # The set_event, the read's deadline and the read copied.
    fork = app.versions.fork(h.workflow_id, 3)
    assert app.retrieve_workflow(fork.workflow_id).result(timeout=10) == "V"
    # A history recorded by older code (the workflow's own id in the read's name, and no
    # deadline before the read) forks too.
    own = and_(O.c.app_name == app.app_name, O.c.workflow_id == h.workflow_id)
    with app.store.db.write() as conn:
        conn.execute(delete(O).where(own, O.c.position == 1))
        for pos in (2, 3):
            conn.execute(update(O).where(own, O.c.position == pos).values(position=pos - 1))
        conn.execute(update(O).where(own, O.c.position == 1).values(name=f"{h.workflow_id}:k"))
    again = app.versions.fork(h.workflow_id, 2)
    assert app.retrieve_workflow(again.workflow_id).result(timeout=10) == "V"
    assert app.get_workflow(again.workflow_id).status == Status.SUCCESS


def test_every_recorded_operation_has_a_start_and_an_end(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.workflow(name="child")
    def child() -> int:
        return 1

    @app.workflow(name="many")
    def many() -> int:
        tether.set_event("k", 1)
        tether.send(tether.workflow_id(), "hello", "t")
        tether.recv("t", timeout=5)
        tether.recv("nothing", timeout=0.2)
        tether.sleep(0.01)
        app.get_event(tether.workflow_id(), "k", timeout=1)
        return int(child())

    app.launch()
    h = app.start_workflow(many)
    assert h.result(timeout=10) == 1
    steps = app.list_steps(h.workflow_id)
    assert {s.kind for s in steps} >= {"set_event", "send", "recv", "sleep", "get_event", "child"}
    for s in steps:
        assert s.started_at is not None and s.completed_at is not None, s
        assert s.started_at <= s.completed_at, s
    [waited] = [s for s in steps if s.kind == "recv" and s.name == "nothing"]
    # It waited out the deadline recorded just before it (the wait's own start comes after
    # that record's commit, so its duration alone says nothing under load).
    [deadline] = [s for s in steps if s.position == waited.position - 1]
    assert waited.completed_at is not None and waited.completed_at >= int(deadline.output)
    assert waited.started_at is not None and waited.started_at < int(deadline.output)
