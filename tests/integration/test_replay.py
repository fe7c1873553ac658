"""Replay: recorded workflows re-executed on current code, answered from history, no writes."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from tether.runtime.context import WorkflowContext
from tether.runtime.errors import TetherError
from tether.runtime.recorder import ReplayRecorder, ReplayWaiter
from tether.runtime.records import OperationRecord
from tether.runtime.store import Fence, schema
from tether.versioning.replay import Replayer

import tether
from tether import Status, Tether

from .helpers import ops, wait_until


def build(
    make_app: Callable[..., Tether],
    calls: Counter[str],
    *,
    version: str = "v1",
    change: str | None = None,
) -> Tether:
    """An order workflow using every kind of operation; ``change`` alters it after the fact."""
    app = make_app(version=version)

    @app.step(name="charge")
    def charge(order: str) -> dict[str, Any]:
        calls["charge"] += 1
        return {"order": order, "on": dt.date(2030, 1, 2)}

    @app.step(name="notify")
    def notify() -> None:
        calls["notify"] += 1

    @app.step(name="risky")
    def risky(ok: bool) -> bool:
        calls["risky"] += 1
        if not ok:
            raise ValueError("declined")
        return ok

    @app.workflow(name="child")
    def child(x: str) -> str:
        return charge(x)["order"]

    @app.workflow(name="order")
    def order(order_id: str) -> list[Any]:
        receipt = charge(order_id)
        if change == "raise":
            raise KeyError("the new code fails here")
        tether.sleep(0.01)
        tether.set_event("status", "charged")
        if change == "insert":
            notify()
        kid = child(order_id + "-inline")
        if change == "truncate":
            return [receipt, kid]
        handle = app.start_workflow(child, order_id + "-bg")
        tether.send(tether.workflow_id(), "note", topic="self")
        note = tether.recv("self", timeout=5)
        seen = app.get_event(tether.workflow_id(), "status", timeout=5)
        risky(order_id != "bad")
        return [receipt, kid, handle.result(), note, seen]

    @app.workflow(name="sleeper")
    def sleeper() -> str:
        charge("s")
        tether.sleep(3600)
        return "woke"

    return app


def snapshot(app: Tether) -> dict[str, list[tuple[Any, ...]]]:
    """Every row this app has in the tables a workflow writes."""
    tables = [schema.workflows, schema.operations, schema.messages, schema.events]
    with app.store.db.read() as conn:
        return {
            t.name: sorted(
                (tuple(r) for r in conn.execute(select(t).where(t.c.app_name == app.app_name))),
                key=repr,
            )
            for t in tables
        }


def test_replay_answers_everything_from_history_and_writes_nothing(
    make_app: Callable[..., Tether],
) -> None:
    calls: Counter[str] = Counter()
    live = build(make_app, calls).launch()
    result = live.start_workflow("order", "o1", workflow_id="o1").result(timeout=15)
    assert result[1:] == ["o1-inline", "o1-bg", "note", "charged"]
    with pytest.raises(ValueError):
        live.start_workflow("order", "bad", workflow_id="bad").result(timeout=15)
    wait_until(
        lambda: all(r.status in Status.TERMINAL for r in live.list_workflows()), what="children"
    )
    live.shutdown()
    before, ran = snapshot(live), Counter(calls)

    code = build(make_app, calls, version="v2")  # not launched: replay needs no executor
    results = {r.workflow_id: r for r in Replayer(code).replay_many(name="order")}
    assert snapshot(live) == before and calls == ran  # nothing written, no step ran
    o1, bad = results["o1"], results["bad"]
    assert (o1.outcome, o1.stopped_at, o1.version, o1.code_version) == ("passed", None, "v1", "v2")
    assert o1.positions_replayed == len(ops(live, "o1")) == 11
    assert (bad.outcome, bad.status) == ("passed", Status.ERROR)  # raised as recorded
    assert bad.positions_replayed == 11


def test_open_workflows_stop_at_the_frontier(make_app: Callable[..., Tether]) -> None:
    calls: Counter[str] = Counter()
    live = build(make_app, calls).launch()
    live.start_workflow("sleeper", workflow_id="zz")
    wait_until(lambda: len(ops(live, "zz")) == 2, what="the sleep to be recorded")
    started = time.monotonic()
    res = Replayer(live).replay("zz")  # a launched app replays too
    assert time.monotonic() - started < 2  # did not wait for the recorded wake-up time
    assert (res.outcome, res.status, res.stopped_at) == ("passed", Status.PENDING, 1)
    assert "sleep" in (res.stopped_because or "")
    assert calls["charge"] == 1


def test_divergence_diagnostics(make_app: Callable[..., Tether]) -> None:
    calls: Counter[str] = Counter()
    live = build(make_app, calls).launch()
    live.start_workflow("order", "o2", workflow_id="o2").result(timeout=15)
    live.shutdown()

    res = Replayer(build(make_app, calls, version="v2", change="insert")).replay("o2")
    assert res.outcome == "diverged" and res.divergence is not None
    d = res.divergence
    assert (d.workflow_id, d.position, d.recorded, d.requested) == (
        "o2",
        3,
        "child 'child'",
        "step 'notify'",
    )
    assert (d.recorded_version, d.code_version) == ("v1", "v2")
    text = str(d)
    for part in (
        "history written by version 'v1', this code is version 'v2'",
        "2  set_event 'status' [v1]",  # recorded operations around it...
        "| set_event 'status'",  # ... next to what the code asked for
        "3  child 'child' [v1]  <-- code asked for step 'notify'",
        "6  deadline 'recv:self' [v1]",
        'tether.patch("<change-name>")',
        "executor of version 'v1'",  # pin back
        "tether workflows fork o2 --position 3",
        "this run finished",  # o2 succeeded: nothing to resume or migrate
    ):
        assert part in text, (part, text)
    assert "workflows resume" not in text and "workflows migrate" not in text
    assert res.positions_replayed == 3

    shorter = Replayer(build(make_app, calls, version="v2", change="truncate")).replay("o2")
    assert shorter.outcome == "diverged" and shorter.divergence is not None
    assert shorter.divergence.position == 4
    assert shorter.divergence.requested == "nothing more (the workflow returned)"


def test_errors_are_reported_not_raised(make_app: Callable[..., Tether]) -> None:
    calls: Counter[str] = Counter()
    live = build(make_app, calls).launch()
    live.start_workflow("order", "o3", workflow_id="o3").result(timeout=15)
    raising = Replayer(build(make_app, calls, change="raise")).replay("o3")
    assert raising.outcome == "error"
    assert "the code raised KeyError" in (raising.error or "")

    empty = make_app(version="v9")
    unknown = Replayer(empty).replay("o3")
    assert unknown.outcome == "error" and "no workflow named 'order'" in (unknown.error or "")


def test_replay_many_filters_progress_and_fail_fast(make_app: Callable[..., Tether]) -> None:
    calls: Counter[str] = Counter()
    live = build(make_app, calls).launch()
    for i in range(3):
        live.start_workflow("order", f"m{i}", workflow_id=f"m{i}").result(timeout=15)
    live.start_workflow("sleeper", workflow_id="sl")
    wait_until(lambda: len(ops(live, "sl")) == 2, what="the sleeper")

    seen: list[tuple[int, int]] = []
    r = Replayer(live)
    got = r.replay_many(status="PENDING", progress=lambda d, t, _: seen.append((d, t)))
    assert [x.workflow_id for x in got] == ["sl"] and seen == [(1, 1)]
    assert len(r.replay_many(name="order", limit=2)) == 2
    assert [x.workflow_id for x in r.replay_many(workflow_ids=["m1", "m0"])] == ["m1", "m0"]

    changed = Replayer(build(make_app, calls, version="v2", change="insert"))
    assert len(changed.replay_many(name="order", fail_fast=True)) == 1
    assert [x.outcome for x in changed.replay_many(name="order")] == ["diverged"] * 3


def test_async_workflows_replay(make_app: Callable[..., Tether]) -> None:
    calls: Counter[str] = Counter()

    def release(version: str, extra: bool) -> Tether:
        app = make_app(version=version)

        @app.step(name="fetch")
        async def fetch(x: int) -> int:
            calls["fetch"] += 1
            await asyncio.sleep(0)
            return x * 2

        @app.workflow(name="kid")
        async def kid(x: int) -> int:
            return await fetch(x)

        @app.workflow(name="flow")
        async def flow(n: int) -> list[int]:
            got = await asyncio.gather(*(fetch(i) for i in range(n)))
            await tether.sleep_async(0.01)
            if extra:
                await fetch(99)
            got.append(await kid(5))
            if await tether.recv_async("more", timeout=60) is not None:
                got.append(await fetch(7))
            return list(got)

        return app

    live = release("v1", extra=False).launch()
    live.start_workflow("flow", 3, workflow_id="a1")
    wait_until(lambda: len(ops(live, "a1")) == 6, what="a1 to wait for a message")
    live.start_workflow("flow", 2, workflow_id="a2")
    wait_until(lambda: len(ops(live, "a2")) == 5, what="a2 to wait for a message")
    live.send("a2", "go", topic="more")
    assert live.retrieve_workflow("a2").result(timeout=10) == [0, 2, 10, 14]
    ran = Counter(calls)

    same = Replayer(release("v2", extra=False)).replay_many(name="flow")
    assert {r.workflow_id: (r.outcome, r.stopped_at) for r in same} == {
        "a1": ("passed", 6),  # waits for its message
        "a2": ("passed", None),
    }
    assert calls == ran
    changed = Replayer(release("v3", extra=True)).replay("a2")
    assert changed.divergence is not None and changed.divergence.requested == "step 'fetch'"


def test_the_replay_recorder_refuses_to_record() -> None:
    recorder = ReplayRecorder("v1", ReplayWaiter("r", {}))
    ctx = WorkflowContext(
        recorder=recorder,
        workflow_id="r",
        name="r",
        version="v1",
        fence=Fence("r", "replay", -1),
        history={},
    )
    op = OperationRecord(0, "step", "s")
    with pytest.raises(TetherError, match="tried to record step 's' at position 0; a replay"):
        recorder.record(ctx, op, None)
    with pytest.raises(TetherError, match="a replay never writes"):
        recorder.record_behind(ctx, op)


def test_a_finished_run_that_diverges_is_not_advised_to_resume(
    make_app: Callable[..., Tether],
) -> None:
    def code(step_name: str, **kw: Any) -> Tether:
        app = make_app(**kw)

        @app.step(name=step_name)
        def work() -> int:
            return 1

        @app.workflow(name="done")
        def done() -> int:
            return work()

        return app

    v1 = code("a").launch()
    v1.start_workflow("done", workflow_id="d").result(timeout=10)
    result = Replayer(code("b", version="v2")).replay("d")
    assert result.outcome == "diverged" and result.divergence is not None
    text = str(result.divergence)
    assert "this run finished" in text and "workflows resume" not in text
