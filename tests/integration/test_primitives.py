"""Durable sleep, messages and events."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from tether.runtime.clock import now_ms

import tether
from tether import Status, Tether

from .helpers import wait_until

NAP = 2.0
DOWNTIME = 1.0


def build_napper(make_app: Callable[..., Tether]) -> Tether:
    app = make_app()

    @app.workflow(name="nap")
    def nap(seconds: float) -> str:
        tether.sleep(seconds)
        return "awake"

    return app.launch()


def test_durable_sleep_wakes_at_the_recorded_time(make_app: Callable[..., Tether]) -> None:
    first = build_napper(make_app)
    started = now_ms()
    first.start_workflow("nap", NAP, workflow_id="n")
    (op,) = wait_until(lambda: first.list_steps("n"), what="the sleep to be recorded")
    wake_at = int(op.output or 0)
    assert op.kind == "sleep"
    assert started + NAP * 1000 <= wake_at <= now_ms() + NAP * 1000
    first.shutdown()  # drains: the sleep is interrupted and the lease released
    assert first.get_workflow("n").executor_id is None

    time.sleep(DOWNTIME)  # part of the sleep passes while nothing runs the workflow
    relaunched = now_ms()
    second = build_napper(make_app)
    assert second.retrieve_workflow("n").result(timeout=10) == "awake"
    rec = second.get_workflow("n")
    assert rec.completed_at is not None and rec.completed_at >= wake_at
    # Only the remainder was slept, not the whole nap again.
    assert rec.completed_at - relaunched < (NAP - DOWNTIME / 2) * 1000
    assert rec.recovery_attempts == 1


def test_messages_by_topic_with_timeout(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.workflow(name="inbox")
    def inbox() -> list[object]:
        first = tether.recv("orders", timeout=10)
        second = tether.recv("orders", timeout=10)
        chat = tether.recv("chat", timeout=10)
        plain = tether.recv(timeout=10)
        nothing = tether.recv("orders", timeout=0.1)
        return [first, second, chat, plain, nothing]

    @app.workflow(name="sender")
    def sender(dest: str) -> None:
        tether.send(dest, {"item": 2}, topic="orders")

    app.launch()
    app.send("box", "hello", topic="chat")  # sent before the workflow exists
    app.send("box", {"item": 1}, topic="orders")
    h = app.start_workflow(inbox, workflow_id="box")
    app.start_workflow(sender, "box", workflow_id="snd").result(timeout=10)
    app.send("box", "untopiced")
    assert h.result(timeout=10) == [{"item": 1}, {"item": 2}, "hello", "untopiced", None]
    assert [(s.kind, s.name) for s in app.list_steps("snd")] == [("send", "orders")]


def test_send_is_not_repeated_on_reexecution(make_app: Callable[..., Tether]) -> None:
    app = make_app()
    crash = {"after_send": True}

    @app.workflow(name="sender")
    def sender() -> str:
        tether.send("box", "once", topic="t")
        if crash["after_send"]:
            raise RuntimeError("crashed after sending")
        return "sent"

    @app.workflow(name="inbox")
    def inbox() -> list[object]:
        return [tether.recv("t", timeout=10), tether.recv("t", timeout=0.1)]

    app.launch()
    with pytest.raises(RuntimeError):
        app.start_workflow(sender, workflow_id="s").result(timeout=10)
    crash["after_send"] = False
    assert app.resume("s").result(timeout=10) == "sent"
    assert app.start_workflow(inbox, workflow_id="box").result(timeout=10) == ["once", None]


def test_async_recv_waits_for_a_message(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.workflow(name="waiter")
    async def waiter() -> object:
        got = await tether.recv_async("go", timeout=10)
        missing = await tether.recv_async("never", timeout=0.05)
        return [got, missing]

    app.launch()
    h = app.start_workflow(waiter, workflow_id="w")
    wait_until(lambda: any(s.kind == "deadline" for s in app.list_steps("w")), what="recv")
    app.send("w", {"n": 1}, topic="go")
    assert h.result(timeout=10) == [{"n": 1}, None]


def test_events(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.workflow(name="publisher")
    def publisher() -> object:
        tether.set_event("stage", {"done": "charge"})
        tether.recv("finish", timeout=10)
        tether.set_event("stage", {"done": "all"})
        return "ok"

    app.launch()
    h = app.start_workflow(publisher, workflow_id="pub")
    assert app.get_event("pub", "stage", timeout=10) == {"done": "charge"}
    started = time.monotonic()
    assert app.get_event("pub", "missing", timeout=0.2) is None
    assert time.monotonic() - started >= 0.2
    assert app.get_event("nobody", "stage", timeout=0.05) is None
    app.send("pub", True, topic="finish")
    assert h.result(timeout=10) == "ok"
    assert app.get_event("pub", "stage", timeout=1) == {"done": "all"}
    assert h.status() == Status.SUCCESS


# A recv timeout is due at the recorded deadline: not before, and not a poll or more late.
# The margin holds on a loaded 2-core runner; a timeout seconds late fails it.
LATE_MS = 1000
WAIT = 3.0


def build_listener(make_app: Callable[..., Tether]) -> Tether:
    app = make_app()

    @app.workflow(name="listen")
    def listen(timeout: float) -> object:
        return tether.recv("never", timeout=timeout)

    return app.launch()


def test_recv_timeout_fires_at_its_deadline(make_app: Callable[..., Tether]) -> None:
    app = build_listener(make_app)
    started = now_ms()
    h = app.start_workflow("listen", 1.0, workflow_id="r")
    assert h.result(timeout=10) is None
    deadline_op, recv_op = app.list_steps("r")
    assert (deadline_op.kind, recv_op.kind, recv_op.output) == ("deadline", "recv", None)
    deadline = int(deadline_op.output or 0)
    assert started + 1000 <= deadline <= now_ms()
    assert recv_op.completed_at is not None
    assert deadline <= recv_op.completed_at <= deadline + LATE_MS


def test_recv_deadline_survives_recovery(make_app: Callable[..., Tether]) -> None:
    first = build_listener(make_app)
    first.start_workflow("listen", WAIT, workflow_id="r")
    (op,) = wait_until(lambda: first.list_steps("r"), what="the recv deadline to be recorded")
    deadline = int(op.output or 0)
    first.shutdown()  # drains: the wait is interrupted and the lease released
    assert first.get_workflow("r").executor_id is None

    time.sleep(DOWNTIME * 2)  # the fleet is down for part of the wait
    second = build_listener(make_app)
    assert second.retrieve_workflow("r").result(timeout=10) is None
    deadline_op, recv_op = second.list_steps("r")
    assert int(deadline_op.output or 0) == deadline  # replayed, not recomputed
    assert recv_op.completed_at is not None
    # Timed out at the original deadline, not WAIT seconds after the recovery.
    assert deadline <= recv_op.completed_at <= deadline + LATE_MS
    assert second.get_workflow("r").recovery_attempts == 1
