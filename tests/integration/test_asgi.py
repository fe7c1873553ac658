"""tether.asgi in-process: the endpoints, the lifespan, and mounting into FastAPI."""

from __future__ import annotations

import runpy
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tether import Status, Tether
from tether.asgi import lifespan, router, tether_asgi_app

from .helpers import wait_until

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app" / "main.py"


def echo_app(make_app: Callable[..., Tether], **options: Any) -> Tether:
    app = make_app(**options)

    @app.workflow(name="echo")
    def echo(value: Any, suffix: str = "") -> Any:
        return f"{value}{suffix}"

    return app


def finished(client: TestClient, path: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        data: dict[str, Any] = client.get(path).json()
        return data if data["status"] not in Status.OPEN else None

    return wait_until(done, 10, f"{path} to finish")


def test_endpoints(make_app: Callable[..., Tether]) -> None:
    app = echo_app(make_app)
    with TestClient(tether_asgi_app(app)) as client:
        health = client.get("/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["version"] == "v1" and health.json()["reason"] is None

        started = client.post("/workflows/echo", json={"args": ["hi"], "kwargs": {"suffix": "!"}})
        assert started.status_code == 200, started.text
        wid = started.json()["workflow_id"]
        assert started.json()["version"] == "v1"
        done = finished(client, f"/workflows/{wid}")
        assert (done["status"], done["output"], done["version"]) == ("SUCCESS", "hi!", "v1")

        again = client.post("/workflows/echo", json={"args": ["x"], "workflow_id": wid})
        assert again.json() == {"workflow_id": wid, "version": "v1"}  # the same run

        unknown = client.post("/workflows/nope", json={})
        assert unknown.status_code == 404 and unknown.json()["known"] == ["echo"]
        assert client.post("/workflows/echo", content=b"{oops").status_code == 400
        bad_args = client.post("/workflows/echo", json={"args": [1, 2, 3], "workflow_id": "b"})
        assert bad_args.status_code == 400 and "bad arguments" in bad_args.json()["error"]
        assert app.store.workflows.get("b") is None  # a refused request writes nothing
        assert client.get("/workflows/missing").status_code == 404
        assert client.post("/tether/wake").json()["claimed"] == 0
    # Leaving the client ran the lifespan's shutdown: the executor drained and stopped.
    [me] = [e for e in app.executors(include_stopped=True) if e.executor_id == app.executor_id]
    assert me.state == "STOPPED"


def test_healthz_is_503_while_draining(make_app: Callable[..., Tether]) -> None:
    app = echo_app(make_app)
    with TestClient(tether_asgi_app(app)) as client:
        app.engine.draining = True  # as the first thing a drain does
        answer = client.get("/healthz")
        assert answer.status_code == 503 and "draining" in answer.json()["reason"]
        app.engine.draining = False


def test_wake_claims_released_work_now(make_app: Callable[..., Tether]) -> None:
    # The waking instance's own recovery rounds are an hour apart: only the wake-up can claim.
    waker = echo_app(make_app, executor_id="waker", recovery_interval=3600.0)
    gone = make_app(executor_id="gone")
    entered, release = threading.Event(), threading.Event()

    @gone.step(name="hold")
    def hold() -> str:
        entered.set()
        release.wait(10)
        return "held"

    @gone.workflow(name="held")
    def held() -> str:
        return hold()

    @waker.step(name="hold")
    def hold_here() -> str:
        return "woken"

    @waker.workflow(name="held")
    def held_here() -> str:
        return hold_here()

    with TestClient(tether_asgi_app(waker)) as client:
        gone.launch()
        gone.start_workflow(held, workflow_id="w")
        assert entered.wait(10)
        gone.shutdown(grace=0.1)  # releases its lease with the step still in flight
        release.set()
        answer = client.post("/tether/wake")
        assert answer.status_code == 200
        assert (answer.json()["claimed"], answer.json()["workflow_ids"]) == (1, ["w"])
        done = finished(client, "/workflows/w")
        assert (done["output"], done["executor_id"]) == ("woken", "waker")


def test_router_and_lifespan_in_fastapi(
    database_url: str, app_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_DATABASE_URL", database_url)
    monkeypatch.setenv("TETHER_APP_NAME", app_name)
    example = runpy.run_path(str(EXAMPLE), run_name="fastapi_example")  # a fresh app
    app: Tether = example["app"]
    with TestClient(example["api"]) as client:
        assert client.get("/tether/healthz").status_code == 200
        own = client.post("/orders/A-1/refund")
        assert own.status_code == 200, own.text
        done = finished(client, f"/tether/workflows/{own.json()['workflow_id']}")
        assert done["output"] == {"order_id": "A-1", "refunded": True}
        started = client.post("/tether/workflows/refund", json={"args": ["A-2"]})
        assert started.status_code == 200 and started.json()["version"] == app.version
        assert client.post("/tether/wake").status_code == 200
    app.store.close()


def test_router_mounts_in_a_starlette_app(make_app: Callable[..., Tether]) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    app = echo_app(make_app)
    host = Starlette(routes=[Mount("/tether", router(app))], lifespan=lifespan(app))
    with TestClient(host) as client:
        assert client.get("/tether/healthz").status_code == 200
        wid = client.post("/tether/workflows/echo", json={"args": [1]}).json()["workflow_id"]
        assert finished(client, f"/tether/workflows/{wid}")["output"] == "1"
