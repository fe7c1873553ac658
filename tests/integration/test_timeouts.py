"""Workflow timeouts: a durable deadline cancels the workflow and its children."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
from tether.runtime.errors import (
    StepTimeoutError,
    WorkflowCancelledError,
    WorkflowTimeoutError,
)

import tether
from tether import Status, Tether

from .helpers import wait_until


def build(app: Tether) -> dict[str, Callable[..., object]]:
    @app.workflow(name="child")
    def child() -> object:
        return tether.recv("never", timeout=60)

    @app.workflow(name="parent")
    def parent() -> object:
        app.start_workflow(child)
        return tether.recv("never", timeout=60)

    @app.workflow(name="quick", timeout=30)
    def quick() -> str:
        return "ok"

    @app.workflow(name="declared", timeout=0.5)
    def declared() -> object:
        return tether.recv("never", timeout=60)

    return {"parent": parent, "quick": quick, "declared": declared, "child": child}


def test_a_started_workflow_times_out_with_its_children(make_app: Callable[..., Tether]) -> None:
    app = make_app()
    wf = build(app)
    app.launch()
    started = time.monotonic()
    h = app.start_workflow(wf["parent"], workflow_timeout=0.5)
    with pytest.raises(WorkflowTimeoutError, match="passed its deadline"):
        h.result(timeout=10)
    assert time.monotonic() - started >= 0.5
    [kid] = app.list_workflows(parent_id=h.workflow_id)
    assert kid.status == Status.CANCELLED
    with pytest.raises(WorkflowCancelledError):
        app.retrieve_workflow(kid.workflow_id).result(timeout=1)
    # The declared timeout applies when the start gives none; a fast one is unaffected.
    with pytest.raises(WorkflowTimeoutError):
        app.start_workflow(wf["declared"]).result(timeout=10)
    assert app.start_workflow(wf["quick"]).result(timeout=10) == "ok"


def test_a_queued_workflow_times_out_from_its_dequeue(make_app: Callable[..., Tether]) -> None:
    app = make_app()
    q = app.queue("q")
    wf = build(app)
    app.launch()
    h = q.enqueue(wf["child"], workflow_timeout=0.5, delay=0.5)
    assert app.get_workflow(h.workflow_id).status == Status.ENQUEUED
    with pytest.raises(WorkflowTimeoutError):
        h.result(timeout=10)
    rec = app.get_workflow(h.workflow_id)
    assert rec.started_at is not None and rec.completed_at is not None
    assert rec.completed_at - rec.started_at >= 500  # the clock ran from the dequeue
    # Resuming gives it a fresh deadline from its next dequeue.
    app.resume(h.workflow_id)
    wait_until(lambda: app.get_workflow(h.workflow_id).status == Status.CANCELLED)


def test_a_deadline_fires_on_another_executor(make_app: Callable[..., Tether]) -> None:
    """No executor holds the workflow when its deadline passes: a peer cancels it."""
    first = make_app()
    wf = build(first)
    first.launch()
    h = first.start_workflow(wf["declared"])
    wait_until(lambda: first.engine.running_ids())
    first.shutdown(grace=0.1)  # gone before the deadline; its lease is released
    second = make_app(version="v2")  # a peer that cannot even run the workflow's version
    second.launch()
    with pytest.raises(WorkflowTimeoutError):
        second.retrieve_workflow(h.workflow_id).result(timeout=10)


def test_a_step_timeout_fails_the_attempt_and_retries(make_app: Callable[..., Tether]) -> None:
    app = make_app()
    release = threading.Event()
    attempts: list[int] = []

    @app.step(name="hang", timeout=0.2, retries=1, interval=0.01)
    def hang() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            release.wait(10)  # the first attempt hangs past the timeout
        return "second"

    @app.step(name="hang_async", timeout=0.2)
    async def hang_async() -> str:
        await asyncio.sleep(10)
        return "never"

    @app.workflow(name="sync_wf")
    def sync_wf() -> str:
        return str(hang())

    @app.workflow(name="async_wf")
    async def async_wf() -> str:
        try:
            return str(await hang_async())
        except StepTimeoutError as exc:
            return f"timed out: {exc}"

    app.launch()
    assert app.start_workflow(sync_wf).result(timeout=10) == "second"
    release.set()
    [op] = app.list_steps(app.list_workflows(name="sync_wf")[0].workflow_id)
    assert op.attempts == 2
    out = str(app.start_workflow(async_wf).result(timeout=10))
    assert out.startswith("timed out: step 'hang_async' did not finish within")
