"""Sync and async workflows behave the same: one scenario, both colours, both backends.

Each scenario is written once against a ``Flows`` pair whose workflows differ only in
colour (``def`` with ``tether.sleep``/``recv`` or ``async def`` with the ``_async`` twins).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import tether
from tether import Status, Tether

from .helpers import ops, wait_until


class Flaky(Exception):
    pass


@dataclass
class Flows:
    app: Tether
    colour: str
    steps: Callable[..., Any]  # (n) -> sum of n steps
    retrying: Callable[..., Any]  # fails twice, then returns "ok"
    backing_off: Callable[..., Any]  # fails and backs off for a minute
    sleeper: Callable[..., Any]  # sleeps an hour
    receiver: Callable[..., Any]  # waits for one message on "go"
    calls: list[str]

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A direct call, from sync code or from a coroutine as the colour needs."""
        if self.colour == "sync":
            return fn(*args)
        return asyncio.run(fn(*args))


@pytest.fixture(params=["sync", "async"])
def flows(request: pytest.FixtureRequest, make_app: Callable[..., Tether]) -> Flows:
    app = make_app(max_workflows=8)
    calls: list[str] = []

    def add_(i: int) -> int:
        calls.append(f"add{i}")
        return i

    def flaky_() -> str:
        calls.append("flaky")
        if calls.count("flaky") < 3:
            raise Flaky("not yet")
        return "ok"

    def slow_retry_() -> str:
        calls.append("slow_retry")
        raise Flaky("down")

    def steps_of(wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Any:
        return (
            app.step(name="add")(wrap(add_)),
            app.step(name="flaky", retries=3, interval=0.01, backoff=1.0)(wrap(flaky_)),
            app.step(name="slow_retry", retries=3, interval=60.0, max_interval=60.0)(
                wrap(slow_retry_)
            ),
        )

    if request.param == "sync":
        add, flaky, slow_retry = steps_of(lambda fn: fn)

        @app.workflow(name="steps")
        def steps(n: int) -> int:
            return sum(add(i) for i in range(n))

        @app.workflow(name="retrying")
        def retrying() -> str:
            return flaky()

        @app.workflow(name="backing_off")
        def backing_off() -> str:
            return slow_retry()

        @app.workflow(name="sleeper")
        def sleeper() -> str:
            tether.sleep(3600)
            return "woke"

        @app.workflow(name="receiver")
        def receiver() -> Any:
            return tether.recv("go", timeout=60)

    else:

        def asynchronous(fn: Callable[..., Any]) -> Callable[..., Any]:
            async def step(*args: Any) -> Any:
                await asyncio.sleep(0)
                return fn(*args)

            return step

        add, flaky, slow_retry = steps_of(asynchronous)

        @app.workflow(name="steps")
        async def steps(n: int) -> int:
            return sum([await add(i) for i in range(n)])

        @app.workflow(name="retrying")
        async def retrying() -> str:
            return await flaky()

        @app.workflow(name="backing_off")
        async def backing_off() -> str:
            return await slow_retry()

        @app.workflow(name="sleeper")
        async def sleeper() -> str:
            await tether.sleep_async(3600)
            return "woke"

        @app.workflow(name="receiver")
        async def receiver() -> Any:
            return await tether.recv_async("go", timeout=60)

    app.launch()
    return Flows(app, request.param, steps, retrying, backing_off, sleeper, receiver, calls)


def test_steps_are_recorded_alike(flows: Flows) -> None:
    h = flows.app.start_workflow(flows.steps, 3, workflow_id="s")
    assert h.result(timeout=10) == 3
    assert ops(flows.app, "s") == [(0, "step", "add"), (1, "step", "add"), (2, "step", "add")]


def test_retries_are_counted_alike(flows: Flows) -> None:
    h = flows.app.start_workflow(flows.retrying, workflow_id="r")
    assert h.result(timeout=10) == "ok"
    assert [op.attempts for op in flows.app.list_steps("r")] == [3]


def test_cancel_interrupts_a_retry_backoff(flows: Flows) -> None:
    h = flows.app.start_workflow(flows.backing_off, workflow_id="b")
    wait_until(lambda: "slow_retry" in flows.calls, what="the first attempt failed")
    started = time.monotonic()
    flows.app.cancel("b")
    wait_until(lambda: not flows.app.engine.is_local("b"), what="the run stopped")
    assert time.monotonic() - started < 5  # not the minute of backoff
    assert h.status() == Status.CANCELLED
    assert flows.calls.count("slow_retry") == 1


def test_drain_interrupts_a_retry_backoff(flows: Flows) -> None:
    h = flows.app.start_workflow(flows.backing_off, workflow_id="d")
    wait_until(lambda: "slow_retry" in flows.calls, what="the first attempt failed")
    started = time.monotonic()
    flows.app.shutdown(grace=30)
    assert time.monotonic() - started < 5  # the drain did not wait out the backoff
    assert h.status() == Status.PENDING  # released for another executor, not failed


def test_cancel_wakes_a_durable_sleep(flows: Flows) -> None:
    h = flows.app.start_workflow(flows.sleeper, workflow_id="z")
    wait_until(lambda: len(ops(flows.app, "z")) == 1, what="the sleep recorded")
    flows.app.cancel("z")
    wait_until(lambda: not flows.app.engine.is_local("z"), timeout=5, what="the sleep ended")
    assert h.status() == Status.CANCELLED


def test_a_message_wakes_a_recv(flows: Flows) -> None:
    h = flows.app.start_workflow(flows.receiver, workflow_id="m")
    wait_until(lambda: len(ops(flows.app, "m")) == 1, what="the recv deadline recorded")
    flows.app.send("m", {"n": 1}, topic="go")
    assert h.result(timeout=5) == {"n": 1}
    assert ops(flows.app, "m") == [(0, "deadline", "recv:go"), (1, "recv", "go")]


def test_a_direct_call_is_durable_alike(flows: Flows) -> None:
    assert flows.call(flows.steps, 2) == 1
    (rec,) = flows.app.list_workflows(name="steps")
    assert rec.status == Status.SUCCESS and rec.output == 1
    assert ops(flows.app, rec.workflow_id) == [(0, "step", "add"), (1, "step", "add")]
