"""Values through the store: dataclasses and pydantic round-trip; unserializable ones fail."""

from __future__ import annotations

import dataclasses
import decimal
import json
from collections.abc import Callable

import pytest
from tether.runtime.errors import SerializationError

from tether import Status, Tether

try:
    import pydantic
except ImportError:  # optional dependency
    pydantic = None


@dataclasses.dataclass(frozen=True)
class Order:
    order_id: str
    amount: decimal.Decimal
    tags: tuple[str, ...] = ()


if pydantic is not None:

    class Customer(pydantic.BaseModel):
        name: str
        vip: bool = False


def test_dataclass_round_trip(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.step(name="discount")
    def discount(order: Order) -> Order:
        return dataclasses.replace(order, amount=order.amount / 2)

    @app.workflow(name="price")
    def price(order: Order) -> Order:
        return discount(order)

    app.launch()
    order = Order("o-1", decimal.Decimal("9.00"), ("gift",))
    out = app.start_workflow(price, order, workflow_id="w").result(timeout=10)
    assert out == Order("o-1", decimal.Decimal("4.50"), ("gift",))
    assert isinstance(out, Order)
    assert app.get_workflow("w").inputs == {"args": [order], "kwargs": {}}


@pytest.mark.skipif(pydantic is None, reason="pydantic is not installed")
def test_pydantic_round_trip(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.step(name="promote")
    def promote(c: Customer) -> Customer:
        return c.model_copy(update={"vip": True})

    @app.workflow(name="wf")
    def wf(c: Customer) -> Customer:
        return promote(c)

    app.launch()
    out = app.start_workflow(wf, Customer(name="ann"), workflow_id="w").result(timeout=10)
    assert out == Customer(name="ann", vip=True)


def test_unserializable_input_is_refused_before_anything_is_written(
    make_app: Callable[..., Tether],
) -> None:
    app = make_app()

    @app.workflow(name="ingest")
    def ingest(payload: object) -> None: ...

    app.launch()
    with pytest.raises(SerializationError, match=r"workflow 'x' \(ingest\) inputs"):
        app.start_workflow(ingest, object(), workflow_id="x")
    with pytest.raises(SerializationError, match=r"\(ingest\) inputs.*dict key 3"):
        ingest({3: "int key"})
    assert app.list_workflows() == []


def test_unserializable_step_output_fails_the_workflow(make_app: Callable[..., Tether]) -> None:
    app = make_app()
    calls: list[int] = []

    @app.step(name="leaky", retries=3, interval=0.01)
    def leaky() -> object:
        calls.append(1)
        return {"handle": object()}

    @app.workflow(name="wf")
    def wf() -> object:
        return leaky()

    @app.workflow(name="bad_output")
    def bad_output() -> float:
        return float("nan")

    app.launch()
    with pytest.raises(SerializationError) as info:
        app.start_workflow(wf, workflow_id="w").result(timeout=10)
    assert "workflow 'w' step 'leaky'" in str(info.value)
    assert calls == [1]  # not retried: running it again cannot make the value storable
    assert app.get_workflow("w").status == Status.ERROR
    (step,) = app.list_steps("w")
    assert step.output is None and "SerializationError" in json.loads(step.error)["type"]

    with pytest.raises(SerializationError, match=r"workflow 'b' \(bad_output\) output"):
        app.start_workflow(bad_output, workflow_id="b").result(timeout=10)
    assert app.get_workflow("b").status == Status.ERROR
