"""``tether rollout ...`` and ``tether revisions`` over the command layer: the CLI writes the
controller's row and an executor of the app runs it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from tether.rollout.memory import MemoryPlatform

from tether import Tether
from tether.cli import cli

from .helpers import wait_until
from .rollout_helpers import agent_app


@pytest.fixture
def run(database_url: str, app_name: str) -> Callable[..., Result]:
    def invoke(*args: str, code: int = 0) -> Result:
        full = ["--database-url", database_url, "--app", app_name, *args]
        result = CliRunner().invoke(cli, full, env={"TETHER_APP_VERSION": None})
        assert result.exit_code == code, (result.output, result.exception)
        return result

    return invoke


def as_json(run: Callable[..., Result], *args: str) -> Any:
    return json.loads(run("--json", *args).stdout)


def test_rollout_commands(
    make_app: Callable[..., Tether], run: Callable[..., Result], tmp_path: Path
) -> None:
    v1 = agent_app(make_app, "v1")
    agent_app(make_app, "v2")
    v1.set_current_version("v1")
    path = tmp_path / "platform.json"
    platform = MemoryPlatform("svc", path=path)
    platform.deploy("svc-1", version="v1", percent=100)
    platform.deploy("svc-2", version="v2")
    where = ["--platform", "memory", "--path", str(path), "--service", "svc"]
    started = as_json(
        run,
        "rollout",
        "start",
        "svc-2",
        *where,
        "--steps",
        "10,100",
        "--bake",
        "0",
        "--min-sample",
        "0",
        "--approve-at",
        "100",
        "--drain-interval",
        "0.1",
    )
    rid = started["rollout_id"]
    assert rid == "rollout-svc-svc-2"
    wait_until(
        lambda: as_json(run, "rollout", "status", rid)["state"] == "paused",
        20,
        "the approval pause",
    )
    rows = {r["name"]: r for r in as_json(run, "revisions", *where)}
    assert rows["svc-1"]["percent"] == 90 and rows["svc-1"]["current"]
    assert rows["svc-2"]["percent"] == 10 and rows["svc-2"]["tag"] == "v-v2"
    assert rows["svc-2"]["state"] == "serving"
    table = run("rollout", "status", rid).stdout
    assert "waiting for approval to shift to 100%" in table
    run("rollout", "approve", rid, "--by", "carol")
    wait_until(
        lambda: as_json(run, "rollout", "status", rid)["state"] == "promoted", 20, "the promotion"
    )
    watched = run("rollout", "status", rid, "--watch").stdout  # ends: the rollout is final
    assert "promoted" in watched
    listed = as_json(run, "rollout", "status")
    assert [r["rollout_id"] for r in listed] == [rid]
    failed = run("rollout", "pause", rid, code=1)
    assert "is promoted: pause applies only to a running or paused rollout" in failed.output
    missing = run("rollout", "status", "nope", code=1)
    assert "no rollout 'nope'" in missing.output


def test_revisions_show_open_work_and_the_drain_state(
    make_app: Callable[..., Tether], run: Callable[..., Result], tmp_path: Path
) -> None:
    v1 = agent_app(make_app, "v1")
    agent_app(make_app, "v2")
    path = tmp_path / "platform.json"
    platform = MemoryPlatform("svc", path=path)
    platform.deploy("svc-1", version="v1", tag="old")
    platform.deploy("svc-2", version="v2", percent=100)
    platform.deploy("svc-0", version="v0", tag="older")
    waiting = v1.start_workflow("waiter")
    wait_until(lambda: v1.list_steps(waiting.workflow_id), 10, "the waiter to start")
    out = as_json(run, "revisions", "--platform", "memory", "--path", str(path))
    rows = {r["name"]: (r["open_work"], r["state"]) for r in out}
    assert rows == {"svc-1": (1, "keep-warm"), "svc-2": (0, "serving"), "svc-0": (0, "retire")}
    text = run("revisions", "--platform", "memory", "--path", str(path)).stdout
    assert "keep-warm" in text and "REVISION" in text
    bad = run("revisions", "--platform", "memory", code=1)
    assert "needs --path" in bad.output
