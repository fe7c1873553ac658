"""A small populated fleet for the dashboard and API tests: finished, failed, waiting and
queued workflows with steps and a child, one patch gate, run by a real launched app."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import insert
from tether.runtime.clock import now_ms
from tether.runtime.store import schema

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
    app = make_app(version="v1", suspend_after=None)  # "waiting" stays PENDING, held
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


def seed_rollout(app: Tether) -> None:
    """A rollout halfway through its stages, as the controller records one (no platform is
    driven here: the pages and views only read it)."""
    now = now_ms()
    plan = {"stages": [{"percent": p} for p in (5, 25, 50, 100)]}
    with app.store.db.write() as conn:
        conn.execute(
            insert(schema.rollouts).values(
                app_name=app.app_name, rollout_id="ro-1", service="shop", baseline="shop-v1",
                candidate="shop-v2", state="running", stage=1, percent=25,
                reason="gates green at 5 %", plan=json.dumps(plan), platform="{}",
                created_at=now - 60_000, updated_at=now,
            )
        )  # fmt: skip
        for i, kind in enumerate(("shift", "gate")):
            conn.execute(
                insert(schema.rollout_events).values(
                    app_name=app.app_name, rollout_id="ro-1", key=f"k{i}", kind=kind,
                    detail="{}", at=now - 30_000 + i,
                )
            )  # fmt: skip


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
    seed_rollout(app)
    admin = tether.Tether(
        app_name=app_name, database_url=database_url, install_signal_handlers=False, migrate=False
    )
    yield Fleet(app, admin, done.workflow_id, failed.workflow_id, waiting.workflow_id, queued)
    admin.close()
