"""Steps are checkpointed: side effects run once, outcomes replay, retries back off."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable

import pytest

import tether
from tether import Status, Tether

from .helpers import ops, wait_until


class PaymentDeclined(Exception):
    """A domain error whose type and message must survive replay."""


def test_side_effect_runs_once_and_replays_after_recovery(make_app: Callable[..., Tether]) -> None:
    app = make_app()
    charged: list[str] = []

    @app.step(name="charge")
    def charge(order: str) -> dict[str, str]:
        charged.append(order)
        return {"charged": order}

    @app.workflow(name="refund")
    def refund(order: str) -> tuple[dict[str, str], str]:
        receipt = charge(order)
        return receipt, tether.recv("go", timeout=30)

    app.launch()
    h = app.start_workflow(refund, "o-1", workflow_id="r-1")
    wait_until(lambda: len(app.list_steps("r-1")) == 2, what="step and recv deadline recorded")
    epoch = h.get().lease_epoch
    # Release the lease: the running attempt is fenced out at its next write and the
    # workflow is claimed again by recovery, which re-executes it from history.
    assert app.store.workflows.release_all(app.executor_id) == 1
    app.send("r-1", "now", topic="go")
    assert h.result(timeout=10) == ({"charged": "o-1"}, "now")
    assert charged == ["o-1"]
    rec = h.get()
    assert rec.recovery_attempts == 1
    assert rec.lease_epoch >= epoch + 2  # released, then claimed
    assert ops(app, "r-1") == [(0, "step", "charge"), (1, "deadline", "recv:go"), (2, "recv", "go")]


def test_retries_back_off_exponentially(make_app: Callable[..., Tether]) -> None:
    app = make_app()
    times: list[float] = []

    @app.step(name="flaky", retries=3, interval=0.05, backoff=4.0)
    def flaky() -> str:
        times.append(time.monotonic())
        if len(times) < 3:
            raise ConnectionError(f"attempt {len(times)} failed")
        return "ok"

    @app.workflow(name="wf")
    def wf() -> str:
        return flaky()

    app.launch()
    assert app.start_workflow(wf, workflow_id="w").result(timeout=10) == "ok"
    assert len(times) == 3
    assert times[1] - times[0] >= 0.045  # interval
    assert times[2] - times[1] >= 0.19  # interval * backoff
    (step,) = app.list_steps("w")
    assert step.attempts == 3 and step.error is None and json.loads(step.output) == "ok"


def test_exhausted_retries_record_the_error(make_app: Callable[..., Tether]) -> None:
    app = make_app()
    calls = Counter()

    @app.step(name="pay", retries=2, interval=0.01)
    def pay() -> None:
        calls["pay"] += 1
        raise PaymentDeclined(f"declined on attempt {calls['pay']}")

    @app.step(name="strict", retries=5, interval=0.01, retry_on=(ConnectionError,))
    def strict() -> None:
        calls["strict"] += 1
        raise ValueError("not retryable")

    @app.workflow(name="wf")
    def wf(which: str) -> None:
        pay() if which == "pay" else strict()

    app.launch()
    with pytest.raises(PaymentDeclined, match=r"^declined on attempt 3$"):
        app.start_workflow(wf, "pay", workflow_id="p").result(timeout=10)
    (step,) = app.list_steps("p")
    assert step.attempts == 3 and step.output is None
    error = json.loads(step.error)
    assert error["type"] == f"{__name__}:PaymentDeclined"
    assert error["message"] == "declined on attempt 3"
    assert app.get_workflow("p").status == Status.ERROR

    with pytest.raises(ValueError, match="not retryable"):
        app.start_workflow(wf, "strict", workflow_id="s").result(timeout=10)
    assert calls["strict"] == 1 and app.list_steps("s")[0].attempts == 1


def test_replay_raises_an_equivalent_exception(make_app: Callable[..., Tether]) -> None:
    app = make_app()
    crash = {"after_step": True}
    calls = Counter()
    caught: list[BaseException] = []

    @app.step(name="pay")
    def pay() -> None:
        calls["pay"] += 1
        raise PaymentDeclined("insufficient funds")

    @app.workflow(name="wf")
    def wf() -> str:
        try:
            pay()
        except PaymentDeclined as exc:
            caught.append(exc)
        if crash["after_step"]:
            raise RuntimeError("crashed after the step")
        return str(caught[-1])

    app.launch()
    with pytest.raises(RuntimeError):
        app.start_workflow(wf, workflow_id="w").result(timeout=10)
    crash["after_step"] = False
    assert app.resume("w").result(timeout=10) == "insufficient funds"
    assert calls["pay"] == 1
    original, replayed = caught
    assert replayed is not original
    assert type(replayed) is PaymentDeclined and replayed.args == ("insufficient funds",)


def test_step_outside_a_workflow_is_a_plain_call(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.step(name="add")
    def add(a: int, b: int) -> int:
        return a + b

    app.launch()
    assert add(2, 3) == 5
    assert app.list_workflows() == []


def test_apps_sharing_a_database_and_a_workflow_id_keep_their_own_histories(
    make_app: Callable[..., Tether], app_name: str
) -> None:
    """Every query is scoped by app name: a second app's run with the same id, recovered
    from its history, replays its own steps, not the first app's."""
    fail = {"b": True}
    a = make_app()

    @a.step(name="a1")
    def a1() -> str:
        return "a1"

    @a.workflow(name="w")
    def wa() -> list[str]:
        return [a1(), a1()]

    b = make_app(app_name=app_name + "b")

    @b.step(name="b1")
    def b1() -> str:
        return "b1"

    @b.workflow(name="w")
    def wb() -> str:
        out = b1()
        if fail["b"]:
            raise RuntimeError("fails once, after its step")
        return out

    a.launch()
    b.launch()
    assert a.start_workflow("w", workflow_id="same").result(timeout=10) == ["a1", "a1"]
    with pytest.raises(RuntimeError, match="fails once"):
        b.start_workflow("w", workflow_id="same").result(timeout=10)
    fail["b"] = False
    handle = b.resume("same")
    assert handle is not None and handle.result(timeout=10) == "b1"  # replayed b1 only
    assert [(s.position, s.name) for s in b.list_steps("same")] == [(0, "b1")]
    assert [(s.position, s.name) for s in a.list_steps("same")] == [(0, "a1"), (1, "a1")]
