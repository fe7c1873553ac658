"""A small populated fleet for the dashboard and API tests: finished, failed, waiting and
queued workflows with steps and a child, one patch gate, run by a real launched app."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import tether
from tether import Status, Tether

from ..integration.helpers import wait_until


@dataclasses.dataclass
class Fleet:
    app: Tether  # launched: runs the workflows
    admin: Tether  # opened like the CLI opens it (never launched)
    done: str  # SUCCESS, with steps and a child
    failed: str  # ERROR
    waiting: str  # PENDING: waits for a message
    queued: list[str]


def build(make_app: Callable[..., Tether]) -> Tether:
    app = make_app(version="v1")
    jobs = app.queues.declare("jobs", concurrency=2)

    @app.step(name="fetch")
    def fetch(order: int) -> dict[str, Any]:
        return {"order": order, "items": ["book", "lamp"]}

    @app.step(name="charge")
    def charge(total: float) -> str:
        return f"charged {total:.2f}"

    @app.workflow(name="child")
    def child(n: int) -> int:
        return n * 2

    @app.workflow(name="checkout")
    def checkout(order: int) -> str:
        data = fetch(order)
        if tether.patch("free-shipping"):
            charge(10.0 * len(data["items"]))
        else:
            charge(10.0 * len(data["items"]) + 4.99)
        app.start_workflow(child, order).result()
        return "ok"

    @app.workflow(name="explode")
    def explode() -> None:
        fetch(0)
        raise ValueError("the payment provider said no")

    @app.workflow(name="approval")
    def approval() -> Any:
        return tether.recv("approve", timeout=3600)

    @app.workflow(name="job")
    def job(n: int) -> int:
        return n

    app.jobs = jobs  # type: ignore[attr-defined]
    return app


@pytest.fixture
def fleet(make_app: Callable[..., Tether], database_url: str, app_name: str) -> Iterator[Fleet]:
    app = build(make_app)
    app.launch()
    done = app.start_workflow("checkout", 7, workflow_id="order-7")
    failed = app.start_workflow("explode", workflow_id="explode-1")
    waiting = app.start_workflow("approval", workflow_id="approval-1")
    queued = [app.jobs.enqueue("job", i).workflow_id for i in range(3)]  # type: ignore[attr-defined]
    assert done.result(timeout=15) == "ok"
    wait_until(lambda: app.get_workflow("explode-1").status == Status.ERROR, 15, "explode")
    wait_until(lambda: app.get_workflow("approval-1").status == Status.PENDING, 15, "approval")
    for wid in queued:
        wait_until(lambda w=wid: app.get_workflow(w).status == Status.SUCCESS, 15, wid)
    admin = tether.Tether(
        app_name=app_name, database_url=database_url, install_signal_handlers=False, migrate=False
    )
    yield Fleet(app, admin, done.workflow_id, failed.workflow_id, waiting.workflow_id, queued)
    admin.close()
