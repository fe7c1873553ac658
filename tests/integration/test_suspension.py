"""Suspension: a durable wait past its grace holds no thread, lease or slot, and resumes by
replay when its condition holds (see runtime.suspension and store.waits)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select
from tether.runtime.store.schema import workflows as W

import tether
from tether import Status, Tether

from .helpers import wait_until

GRACE = 0.05


def suspended(app: Tether, wid: str) -> bool:
    rec = app.get_workflow(wid)
    return rec.status == Status.SUSPENDED and wid not in app.engine.running_ids()


@pytest.fixture(params=["sync", "async"])
def flavor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def build(make_app: Callable[..., Tether], flavor: str, **kwargs: Any) -> tuple[Tether, list[str]]:
    """An app whose workflows ``nap`` and ``inbox`` run one side-effect step first."""
    app = make_app(suspend_after=GRACE, **kwargs)
    ran: list[str] = []
    lock = threading.Lock()

    @app.step()
    def note(what: str) -> str:
        with lock:
            ran.append(what)
        return what

    if flavor == "sync":

        @app.workflow(name="nap")
        def nap(seconds: float) -> str:
            note("before")
            tether.sleep(seconds)
            return note("after")

        @app.workflow(name="inbox")
        def inbox(timeout: float | None) -> Any:
            note("before")
            return [tether.recv("t", timeout=timeout), note("after")]

    else:

        @app.workflow(name="nap")
        async def anap(seconds: float) -> str:
            await asyncio.to_thread(note, "before")
            await tether.sleep_async(seconds)
            return await asyncio.to_thread(note, "after")

        @app.workflow(name="inbox")
        async def ainbox(timeout: float | None) -> Any:
            await asyncio.to_thread(note, "before")
            got = await tether.recv_async("t", timeout=timeout)
            return [got, await asyncio.to_thread(note, "after")]

    return app.launch(), ran


def test_sleep_suspends_and_resumes_at_its_time(
    make_app: Callable[..., Tether], flavor: str
) -> None:
    app, ran = build(make_app, flavor)
    h = app.start_workflow("nap", 1.0, workflow_id="n")
    wait_until(lambda: suspended(app, "n"), what="the sleep to suspend")
    rec = app.get_workflow("n")
    (sleep_op,) = [op for op in app.list_steps("n") if op.kind == "sleep"]
    assert (rec.executor_id, rec.wait_kind, rec.wake_at) == (None, "sleep", int(sleep_op.output))
    assert h.result(timeout=10) == "after"
    done = app.get_workflow("n")
    assert done.completed_at is not None and done.completed_at >= int(sleep_op.output)
    assert ran == ["before", "after"]  # the step before the wait answered from history


def test_recv_suspends_until_a_message_arrives(
    make_app: Callable[..., Tether], flavor: str
) -> None:
    app, ran = build(make_app, flavor)
    h = app.start_workflow("inbox", None, workflow_id="i")
    wait_until(lambda: suspended(app, "i"), what="the recv to suspend")
    rec = app.get_workflow("i")
    assert (rec.wait_kind, rec.wait_on, rec.wake_at) == ("recv", "t", None)
    app.send("i", {"ok": 1}, topic="t")
    assert h.result(timeout=10) == [{"ok": 1}, "after"]
    assert ran == ["before", "after"]


def test_recv_with_timeout_suspends_and_times_out(
    make_app: Callable[..., Tether], flavor: str
) -> None:
    app, ran = build(make_app, flavor)
    h = app.start_workflow("inbox", 1.0, workflow_id="i")
    wait_until(lambda: suspended(app, "i"), what="the recv to suspend")
    assert app.get_workflow("i").wake_at is not None
    assert h.result(timeout=10) == [None, "after"]
    assert ran == ["before", "after"]


def test_message_before_the_wait_needs_no_suspension(make_app: Callable[..., Tether]) -> None:
    app, _ = build(make_app, "sync")
    app.send("i", "early", topic="t", allow_missing=True)
    assert app.start_workflow("inbox", None, workflow_id="i").result(timeout=10) == [
        "early",
        "after",
    ]
    assert app.get_workflow("i").lease_epoch == 0  # never suspended, never claimed


def test_messages_racing_suspension_are_delivered_once(
    make_app: Callable[..., Tether], flavor: str
) -> None:
    app = make_app(suspend_after=0)  # every wait suspends at once: the race is everywhere
    n, per = 20, 3

    if flavor == "sync":

        @app.workflow(name="collect")
        def collect() -> list[Any]:
            return [tether.recv("t") for _ in range(per)]

    else:

        @app.workflow(name="collect")
        async def acollect() -> list[Any]:
            return [await tether.recv_async("t") for _ in range(per)]

    app.launch()
    handles = [app.start_workflow("collect", workflow_id=f"c{i}") for i in range(n)]

    def sender(i: int) -> None:
        for k in range(per):
            app.send(f"c{i}", k, topic="t")

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [h.result(timeout=30) for h in handles] == [list(range(per))] * n


def test_resumed_workflow_takes_the_recorded_branch_of_a_patch(
    make_app: Callable[..., Tether],
) -> None:
    calls: list[str] = []

    def build_version(version: str, patched: bool) -> Tether:
        app = make_app(version=version, compatible_with=["v1"], suspend_after=GRACE)

        @app.step(name="old")
        def old() -> str:
            calls.append(f"old@{version}")
            return "old"

        @app.step(name="new")
        def new() -> str:
            calls.append(f"new@{version}")
            return "new"

        @app.workflow(name="gated")
        def gated() -> list[Any]:
            out = new() if patched and tether.patch("p") else old()
            return [out, tether.recv("go")]

        return app.launch()

    v1 = build_version("v1", patched=False)
    v1.start_workflow("gated", workflow_id="g")
    wait_until(lambda: suspended(v1, "g"), what="the recv to suspend")
    v1.shutdown()
    v2 = build_version("v2", patched=True)
    v2.send("g", "ok", topic="go")
    assert v2.retrieve_workflow("g").result(timeout=10) == ["old", "ok"]
    assert calls == ["old@v1"]  # answered from history on v2: the recorded branch, not rerun


def test_queue_slots_are_given_back_and_limits_hold_across_executors(
    make_app: Callable[..., Tether],
) -> None:
    lock = threading.Lock()
    running = {"now": 0, "peak": 0}
    apps = []
    for _ in range(3):
        app = make_app(suspend_after=GRACE)
        app.queue("q", concurrency=2)

        @app.step(name="work")
        def work(hold: float) -> None:
            with lock:
                running["now"] += 1
                running["peak"] = max(running["peak"], running["now"])
            try:
                threading.Event().wait(hold)
            finally:
                with lock:
                    running["now"] -= 1

        @app.workflow(name="agent")
        def agent(wait: bool) -> str:
            work(0.02)
            got = tether.recv("go") if wait else "none"
            work(0.05)
            return str(got)

        apps.append(app.launch())
    q = apps[0].queue("q", concurrency=2)
    waiting = [q.enqueue("agent", True) for _ in range(8)]
    ids = [h.workflow_id for h in waiting]
    wait_until(
        lambda: all(suspended_anywhere(apps[0], w) for w in ids),
        timeout=30,
        what="all agents to suspend (two slots, eight agents: each gave its slot back)",
    )
    (stats,) = apps[0].queue_stats()
    assert (stats["suspended"], stats["running"], stats["waiting"]) == (8, 0, 0)
    # A new agent runs although eight wait in the queue.
    assert q.enqueue("agent", False).result(timeout=10) == "none"
    for w in ids:
        apps[0].send(w, "go", topic="go")
    assert [h.result(timeout=30) for h in waiting] == ["go"] * 8
    assert running["peak"] <= 2


def count_suspended(app: Tether) -> int:
    with app.store.db.read() as conn:
        return int(
            conn.execute(
                select(func.count()).where(
                    W.c.app_name == app.app_name, W.c.status == Status.SUSPENDED
                )
            ).scalar_one()
        )


def suspended_anywhere(app: Tether, wid: str) -> bool:
    return app.get_workflow(wid).status == Status.SUSPENDED


def test_drain_with_many_suspended_is_quick_and_leaves_nothing_to_take_over(
    make_app: Callable[..., Tether],
) -> None:
    app = make_app(suspend_after=0, shutdown_grace=5.0)

    @app.workflow(name="waiter")
    async def waiter() -> None:
        await tether.sleep_async(3600)

    app.launch()
    n = 1000
    with ThreadPoolExecutor(8) as pool:  # concurrent starts share commits
        list(pool.map(lambda i: app.start_workflow("waiter", workflow_id=f"w{i}"), range(n)))
    wait_until(lambda: count_suspended(app) == n, timeout=60, what="every waiter to suspend")
    began = time.monotonic()
    released = app._executor.drain()  # what SIGTERM runs
    assert time.monotonic() - began < 2.0
    assert released == 0  # no lease held: nothing for a peer to take over
    assert all(r.executor_id is None for r in app.list_workflows(limit=n))


def test_parent_suspends_while_its_child_waits_and_resumes_when_it_ends(
    make_app: Callable[..., Tether], flavor: str
) -> None:
    app = make_app(suspend_after=GRACE)
    ran: list[str] = []

    @app.step()
    def note(what: str) -> str:
        ran.append(what)
        return what

    if flavor == "sync":

        @app.workflow(name="child")
        def child() -> Any:
            return tether.recv("go")

        @app.workflow(name="parent")
        def parent() -> list[Any]:
            note("parent")
            return [child(), note("after")]

    else:

        @app.workflow(name="child")
        async def achild() -> Any:
            return await tether.recv_async("go")

        @app.workflow(name="parent")
        async def aparent() -> list[Any]:
            await asyncio.to_thread(note, "parent")
            got = await achild()
            return [got, await asyncio.to_thread(note, "after")]

    app.launch()
    h = app.start_workflow("parent", workflow_id="p")
    wait_until(lambda: suspended(app, "p"), what="the parent to suspend")
    rec = app.get_workflow("p")
    (child_id,) = [op.child_id for op in app.list_steps("p") if op.kind == "child"]
    assert (rec.wait_kind, rec.wait_on) == ("child", child_id)
    wait_until(lambda: suspended(app, child_id), what="the child to suspend")
    app.send(child_id, "done", topic="go")
    assert h.result(timeout=10) == ["done", "after"]
    assert ran == ["parent", "after"]


def test_cancelling_a_waited_child_wakes_its_suspended_parent(
    make_app: Callable[..., Tether],
) -> None:
    app = make_app(suspend_after=GRACE)

    @app.workflow(name="child")
    def child() -> Any:
        return tether.recv("go")

    @app.workflow(name="parent")
    def parent() -> str:
        try:
            child()
        except tether.errors.WorkflowCancelledError:
            return "child cancelled"
        return "child done"

    app.launch()
    h = app.start_workflow("parent", workflow_id="p")
    wait_until(lambda: suspended(app, "p"), what="the parent to suspend")
    (child_id,) = [op.child_id for op in app.list_steps("p") if op.kind == "child"]
    app.cancel(child_id)
    assert h.result(timeout=10) == "child cancelled"


def test_workflows_list_shows_what_a_suspended_workflow_waits_on(
    make_app: Callable[..., Tether], database_url: str, app_name: str
) -> None:
    from click.testing import CliRunner

    from tether.cli import cli
    from tether.render.base import timestamp

    app, _ = build(make_app, "sync")
    app.start_workflow("inbox", 600.0, workflow_id="i")
    wait_until(lambda: suspended(app, "i"), what="the recv to suspend")
    wake_at = app.get_workflow("i").wake_at
    args = ["--database-url", database_url, "--app", app_name, "workflows", "list"]
    result = CliRunner().invoke(cli, [*args, "--status", "SUSPENDED"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert f"recv 't' until {timestamp(wake_at)}" in result.output


def test_get_event_without_timeout_suspends_until_the_event_is_set(
    make_app: Callable[..., Tether],
) -> None:
    app = make_app(suspend_after=GRACE)

    @app.workflow(name="publisher")
    def publisher() -> None:
        tether.recv("go")
        tether.set_event("state", "ready")

    @app.workflow(name="watcher")
    def watcher(target: str) -> Any:
        return app.get_event(target, "state", timeout=None)

    app.launch()
    app.start_workflow("publisher", workflow_id="pub")
    h = app.start_workflow("watcher", "pub", workflow_id="w")
    wait_until(lambda: suspended(app, "w"), what="the watcher to suspend")
    rec = app.get_workflow("w")
    assert (rec.wait_kind, rec.wait_on) == ("event", "pub")
    app.send("pub", "go", topic="go")
    assert h.result(timeout=10) == "ready"


def test_a_timeout_cancels_a_suspended_workflow(make_app: Callable[..., Tether]) -> None:
    """A workflow suspended in a wait still has its deadline: the timeout cancels it."""
    app = make_app(suspend_after=GRACE)

    @app.workflow(name="forever")
    def forever() -> Any:
        return tether.recv("never")

    app.launch()
    h = app.start_workflow("forever", workflow_id="t", workflow_timeout=1.5)
    wait_until(lambda: suspended(app, "t"), what="the wait to suspend")
    with pytest.raises(tether.WorkflowTimeoutError):
        h.result(timeout=20)
    assert app.get_workflow("t").status == Status.CANCELLED
