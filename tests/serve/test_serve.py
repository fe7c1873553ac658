"""``tether serve`` as a real process: the endpoints, and SIGTERM draining to a peer."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from tether.rollout.processes import Processes
from tether.runtime.store import Store

from tether import Status
from tether.cli import cli

from ..integration.helpers import wait_until
from .conftest import ROOT, TARGET, Services, call


def test_serve_endpoints_answer_with_the_revision_as_version(services: Services) -> None:
    _, url = services.serve("A", K_REVISION="shop-00007-abc")
    status, health = call("GET", url + "/healthz")
    assert status == 200 and health["version"] == "shop-00007-abc" and health["executor_id"] == "A"

    status, started = call(
        "POST", url + "/workflows/echo", {"args": [1], "kwargs": {"suffix": "x"}}
    )
    assert status == 200 and started["version"] == "shop-00007-abc"
    path = f"{url}/workflows/{started['workflow_id']}"
    done = wait_until(lambda: (r := call("GET", path)[1])["status"] not in Status.OPEN and r, 10)
    assert (done["status"], done["output"]) == ("SUCCESS", "1x")

    status, unknown = call("POST", url + "/workflows/nope", {})
    assert status == 404 and unknown["known"] == ["chain", "echo"]
    assert call("GET", url + "/workflows/nope")[0] == 404
    status, woke = call("POST", url + "/tether/wake")
    assert status == 200 and woke["claimed"] == 0


def test_sigterm_drains_within_grace_and_hands_work_to_a_peer(
    services: Services, database_url: str, app_name: str
) -> None:
    grace = 1.0
    a, a_url = services.serve("A", SVC_GRACE=str(grace), K_REVISION="v1")
    services.serve("B", K_REVISION="v1")
    # Step 0 runs; step 1 is in flight on A (it waits for the gate) when SIGTERM arrives.
    status, _ = call("POST", a_url + "/workflows/chain", {"args": [3, 1], "workflow_id": "w"})
    assert status == 200
    wait_until(lambda: services.effects("step", executor="A", index=0), 10, "A's step 0")

    sent = time.monotonic()
    a.signal(signal.SIGTERM)
    code = a.wait(timeout=grace + 10)
    took = time.monotonic() - sent
    assert code is not None, f"A still runs after SIGTERM\n{a.log_tail()}"
    assert code in (0, -signal.SIGTERM), a.log_tail()
    assert took < grace + 5, f"A took {took:.1f} s to exit (grace {grace} s)"
    assert "drained; released 1 workflow(s)" in a.log_tail()

    services.gate.touch()
    store = Store(database_url, app_name)
    try:
        rec = wait_until(
            lambda: (
                (r := store.workflows.get("w")) is not None and r.status == Status.SUCCESS and r
            ),
            15,
            "B to finish w",
        )
        [a_row] = [e for e in store.executors.list(2000) if e.executor_id == "A"]
    finally:
        store.close()
    assert rec.output == [0, 1, 2]
    steps = [(e["index"], e["executor"]) for e in services.effects("step", wid="w")]
    assert steps == [(0, "A"), (1, "B"), (2, "B")]  # none ran twice
    assert a_row.state == "STOPPED"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("svc", "cannot import 'svc'"),
        ("tests.serve.nosuch:app", "cannot import 'tests.serve.nosuch'"),
        ("tests.serve.svc:nope", "has no attribute 'nope'"),
        ("tests.serve.svc:note", "is a function, not a tether.Tether app"),
    ],
)
def test_serve_refuses_a_target_that_is_not_an_app(target: str, message: str) -> None:
    result = CliRunner().invoke(
        cli, ["serve", target, "--app-dir", str(ROOT)], env={"TETHER_APP_NAME": "svc"}
    )
    assert result.exit_code == 1 and message in result.output, result.output


def test_serve_exits_when_the_app_cannot_launch(tmp_path: Path) -> None:
    with Processes(tmp_path) as procs:
        env = {"TETHER_APP_NAME": "svc", "TETHER_DATABASE_URL": "sqlite:////nonexistent/dir/t.db"}
        child = procs.tether("A", ["serve", TARGET, "--app-dir", str(ROOT), "--port", "0"], env=env)
        assert child.wait(30) == 3, child.log_tail()
        assert "Application startup failed" in child.log_tail()
