"""The admin JSON API over a real fleet: reads answer from the database, actions change it,
and bad input gets a clear 4xx error that changes nothing."""

from __future__ import annotations

from starlette.testclient import TestClient

from tether import Status
from tether.dashboard import dashboard_app

from .conftest import Fleet


def test_reads(fleet: Fleet) -> None:
    client = TestClient(dashboard_app(fleet.admin, code=fleet.app))
    versions = client.get("/api/versions").json()
    assert [v["version"] for v in versions["versions"]] == ["v1"]
    assert versions["routing"]["current"] == "v1" and len(versions["executors"]) == 1

    page = client.get("/api/workflows", params={"status": "success", "limit": 2}).json()
    assert len(page["workflows"]) == 2 and page["next_offset"] == 2
    assert all(w["status"] == "SUCCESS" for w in page["workflows"])
    by_name = client.get("/api/workflows", params={"name": "checkout"}).json()
    assert [w["workflow_id"] for w in by_name["workflows"]] == [fleet.done]

    detail = client.get(f"/api/workflows/{fleet.done}").json()
    steps = detail["steps"]
    assert [s["name"] for s in steps if s["kind"] == "step"] == ["fetch", "charge"]
    fetch = next(s for s in steps if s["name"] == "fetch")
    assert fetch["output"] == {"order": 7, "items": ["book", "lamp"]}
    assert fetch["version"] == "v1" and fetch["executor_id"] == fleet.app.executor_id
    assert len(detail["children"]) == 1 and detail["children"][0]["output"] == 14
    failed = client.get(f"/api/workflows/{fleet.failed}").json()
    assert "payment provider" in str(failed["error"])

    patches = client.get("/api/patches").json()
    gate = next(p for p in patches["patches"] if p["name"] == "free-shipping")
    assert gate["in_code"] == "patch" and gate["markers"] >= 1

    [ro] = client.get("/api/rollouts").json()["rollouts"]
    assert (ro["rollout_id"], ro["state"], ro["steps"], ro["percent"]) == (
        "ro-1", "running", [5, 25, 50, 100], 25,
    )  # fmt: skip
    events = client.get("/api/rollouts/ro-1").json()["events"]
    assert [e["kind"] for e in events] == ["shift", "gate"]

    queues = client.get("/api/queues", params={"window": 600}).json()
    assert [q["queue"] for q in queues["queues"]] == ["jobs"]
    assert queues["series"][0]["queue"] == "jobs" and sum(queues["series"][0]["started"]) == 3


def test_actions_round_trip(fleet: Fleet) -> None:
    client = TestClient(dashboard_app(fleet.admin))
    cancelled = client.post(f"/api/workflows/{fleet.waiting}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["cancelled"] == [fleet.waiting]
    assert fleet.admin.get_workflow(fleet.waiting).status == Status.CANCELLED

    routed = client.post("/api/routing", json={"current": "v1"})
    assert routed.status_code == 200 and routed.json()["current"] == "v1"


def test_bad_input(fleet: Fleet) -> None:
    client = TestClient(dashboard_app(fleet.admin))

    def error(response: object, status: int) -> str:
        assert response.status_code == status, response.text  # type: ignore[attr-defined]
        return str(response.json()["error"])  # type: ignore[attr-defined]

    assert "no workflow 'nope'" in error(client.get("/api/workflows/nope"), 404)
    assert "no workflow" in error(client.post("/api/workflows/nope/cancel"), 404)
    assert "unknown status" in error(client.get("/api/workflows?status=DONE"), 400)
    assert "limit" in error(client.get("/api/workflows?limit=-3"), 400)
    assert "unknown version 'v9'" in error(client.post("/api/routing", json={"current": "v9"}), 400)
    assert "percent" in error(
        client.post("/api/routing", json={"current": "v1", "percent": "ten"}), 400
    )
    assert "unknown keys" in error(client.post("/api/routing", json={"curent": "v1"}), 400)
    assert "not JSON" in error(client.post("/api/routing", content=b"{"), 400)
    assert "no version 'v9'" in error(client.post("/api/versions/v9/retire"), 404)
    assert "cannot be retired" in error(client.post("/api/versions/v1/retire"), 409)
    assert "--module" in error(client.get("/api/patches"), 409)
    assert "no rollout 'nope'" in error(client.get("/api/rollouts/nope"), 404)
    assert "no rollout action" in error(client.post("/api/rollouts/ro-1/explode"), 404)
    assert fleet.admin.routing().current == "v1"  # nothing changed
    assert client.get("/api/versions").json()["versions"][0]["state"] == "active"
    assert client.get("/api/workflows/x/cancel").status_code == 405  # actions are POSTs only


def test_token(fleet: Fleet) -> None:
    client = TestClient(dashboard_app(fleet.admin, token="s3cret"))
    denied = client.get("/api/versions")
    assert denied.status_code == 401 and "Bearer" in denied.json()["error"]
    assert client.get("/api/versions", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert (
        client.get("/api/versions", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    )
    page = client.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 401 and 'name="token"' in page.text
    signed = client.post("/login", content=b"token=s3cret", follow_redirects=False)
    assert signed.status_code == 303 and "tether_dashboard_token" in signed.headers["set-cookie"]
    client.cookies.set("tether_dashboard_token", "s3cret")
    assert client.get("/", headers={"Accept": "text/html"}).status_code == 200
