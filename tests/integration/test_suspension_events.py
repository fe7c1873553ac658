"""``get_event`` from workflow code with a finite timeout: its deadline is recorded like
recv's, it suspends past the grace, the due time or the event wakes it, and a history
recorded before reads kept their deadline still replays."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from tether.versioning.history_io import WorkflowHistory
from tether.versioning.replay import Replayer

import tether
from tether import Status, Tether

from .helpers import wait_until
from .test_suspension import GRACE, flavor, suspended

__all__ = ["flavor"]  # the fixture, imported for the tests here


def build(make_app: Callable[..., Tether], flavor: str, **kwargs: Any) -> Tether:
    """``publisher`` sets ``state`` once it receives ``go``; ``watcher(target, timeout)``
    reads it (sync or async) and then runs a step."""
    app = make_app(**{"suspend_after": GRACE, **kwargs})

    @app.step()
    def after(got: Any) -> list[Any]:
        return [got, "after"]

    @app.workflow(name="publisher")
    def publisher() -> None:
        tether.recv("go")
        tether.set_event("state", "ready")

    if flavor == "sync":

        @app.workflow(name="watcher")
        def watcher(target: str, timeout: float | None) -> list[Any]:
            return after(app.get_event(target, "state", timeout=timeout))

    else:

        @app.workflow(name="watcher")
        async def awatcher(target: str, timeout: float | None) -> list[Any]:
            got = await app.get_event_async(target, "state", timeout=timeout)
            return await asyncio.to_thread(after, got)

    return app.launch()


def deadline_of(app: Tether, wid: str) -> int:
    (op,) = [op for op in app.list_steps(wid) if op.kind == "deadline"]
    assert op.name == "get_event:pub:state"
    return int(op.output)


def test_get_event_with_a_timeout_suspends_and_times_out_at_its_recorded_deadline(
    make_app: Callable[..., Tether], flavor: str
) -> None:
    app = build(make_app, flavor)
    app.start_workflow("publisher", workflow_id="pub")
    h = app.start_workflow("watcher", "pub", 1.0, workflow_id="w")
    wait_until(lambda: suspended(app, "w"), what="the watcher to suspend")
    rec = app.get_workflow("w")
    until = deadline_of(app, "w")
    assert (rec.wait_kind, rec.wait_on, rec.wake_at) == ("event", "pub", until)
    assert h.result(timeout=10) == [None, "after"]  # the due time woke it: the timeout result
    assert app.get_workflow("w").completed_at >= until
    assert [op.kind for op in app.list_steps("w")] == ["deadline", "get_event", "step"]
    assert deadline_of(app, "w") == until  # the resume replayed the deadline, kept it


def test_get_event_with_a_timeout_wakes_when_the_event_is_set_during_suspension(
    make_app: Callable[..., Tether], flavor: str
) -> None:
    app = build(make_app, flavor)
    app.start_workflow("publisher", workflow_id="pub")
    h = app.start_workflow("watcher", "pub", 600.0, workflow_id="w")
    wait_until(lambda: suspended(app, "w"), what="the watcher to suspend")
    assert app.get_workflow("w").wake_at == deadline_of(app, "w")
    app.send("pub", "go", topic="go")
    assert h.result(timeout=10) == ["ready", "after"]  # long before its deadline


def test_get_event_deadline_survives_a_restart(
    make_app: Callable[..., Tether], flavor: str
) -> None:
    """An executor that stops while the read waits (in memory, not suspended): the next one
    replays the recorded deadline instead of starting the timeout over."""
    first = build(make_app, flavor, suspend_after=None)
    first.start_workflow("publisher", workflow_id="pub")
    first.start_workflow("watcher", "pub", 600.0, workflow_id="w")
    wait_until(lambda: first.list_steps("w"), what="the deadline to be recorded")
    until = deadline_of(first, "w")
    first.shutdown()
    second = build(make_app, flavor)  # suspends at once: the wait's deadline is on its row
    wait_until(lambda: suspended(second, "w"), timeout=20, what="the watcher to resume")
    assert second.get_workflow("w").wake_at == until
    second.send("pub", "go", topic="go")
    assert second.retrieve_workflow("w").result(timeout=10) == ["ready", "after"]
    assert deadline_of(second, "w") == until


def test_target_ending_without_the_event_times_out_like_in_memory(
    make_app: Callable[..., Tether],
) -> None:
    """In memory, a read waits for the event until its timeout whatever the target does
    (a cancelled target may be resumed and set it): suspended, it does the same."""
    app = build(make_app, "sync")
    app.start_workflow("publisher", workflow_id="pub")
    h = app.start_workflow("watcher", "pub", 1.5, workflow_id="w")
    wait_until(lambda: suspended(app, "w"), what="the watcher to suspend")
    app.cancel("pub")
    assert app.get_workflow("w").status == Status.SUSPENDED  # not woken by the end
    assert h.result(timeout=10) == [None, "after"]
    assert app.get_workflow("w").completed_at >= deadline_of(app, "w")


def test_a_read_recorded_before_reads_kept_their_deadline_replays(
    make_app: Callable[..., Tether],
) -> None:
    app = build(make_app, "sync", suspend_after=None)
    app.start_workflow("publisher", workflow_id="pub")
    h = app.start_workflow("watcher", "pub", 600.0, workflow_id="w")
    app.send("pub", "go", topic="go")
    assert h.result(timeout=10) == ["ready", "after"]
    history = WorkflowHistory.from_store(app.store, "w")
    assert Replayer(app).replay_history(history).passed
    # The same run as older code recorded it: the read at position 0, no deadline.
    legacy = tuple(
        dataclasses.replace(op, position=op.position - 1)
        for op in history.operations
        if op.kind != "deadline"
    )
    old = dataclasses.replace(history, operations=legacy)
    result = Replayer(app).replay_history(old)
    assert result.passed, result.divergence


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_get_event_async_outside_a_workflow_has_the_same_shape(
    make_app: Callable[..., Tether], timeout: float | None
) -> None:
    app = build(make_app, "sync")
    app.start_workflow("publisher", workflow_id="pub")
    app.send("pub", "go", topic="go")
    assert asyncio.run(app.get_event_async("pub", "state", timeout=timeout)) == "ready"
    assert asyncio.run(app.get_event_async("pub", "nothing", timeout=0)) is None
