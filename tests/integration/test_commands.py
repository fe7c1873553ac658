"""The command layer as an HTTP API would call it: every operation returns records that plain
``json.dumps`` takes from ``to_dict()``, and fails with an actionable ``TetherError``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tether.runtime.errors import ConfigurationError, TetherError, WorkflowNotFoundError

import tether
from tether import Tether, commands


def plain(record: Any) -> Any:
    """``record.to_dict()`` through plain json (no ``default=``): what an HTTP API sends."""
    return json.loads(json.dumps(record.to_dict()))


def test_every_command_returns_plain_records(
    make_app: Callable[..., Tether], tmp_path: Path
) -> None:
    app = make_app()

    @app.step()
    def charge(order: str) -> dict[str, Any]:
        return {"order": order}

    @app.workflow()
    def refund(order: str) -> dict[str, Any]:
        if tether.patch("fees"):
            charge(order)
        return {"refunded": order}

    @app.workflow()
    def waiter() -> Any:
        return tether.recv(timeout=60)

    app.launch()
    app.queue("q").enqueue(refund, "o-1", workflow_id="ok").result(timeout=10)
    app.start_workflow(waiter, workflow_id="waiting")
    app.schedules.create("nightly", "refund", "0 0 * * *")
    admin = commands.open_app(app_name=app.app_name, database_url=app.settings.database_url)

    assert [w["workflow_id"] for w in map(plain, commands.list_workflows(admin))] == [
        "waiting",
        "ok",
    ]
    assert plain(commands.get_workflow(admin, "ok"))["output"] == {"refunded": "o-1"}
    steps = plain(commands.list_steps(admin, "ok"))
    assert steps["steps"][-1]["output"] == {"order": "o-1"}  # recorded JSON, decoded
    assert plain(commands.cancel_workflow(admin, "waiting"))["cancelled"] == ["waiting"]
    assert plain(commands.resume_workflow(admin, "waiting"))["resumed"] is True
    [version] = map(plain, commands.list_versions(admin))
    assert (version["version"], version["current"]) == ("v1", True)
    assert plain(commands.tag_version(admin, "v1", "1.0"))["release"] == "1.0"
    assert admin.versions.get("1.0").version == "v1"  # by release tag
    assert plain(commands.current_version(admin))["current"] == "v1"
    assert plain(commands.show_routing(admin))["known_versions"] == ["v1"]
    [stats] = map(plain, commands.queue_stats(admin))
    assert (stats["queue"], stats["finished"]) == ("q", {"SUCCESS": 1})
    [schedule] = map(plain, commands.list_schedules(admin))
    assert (schedule["name"], schedule["next_tick"] > 0) == ("nightly", True)
    assert plain(commands.pause_schedule(admin, "nightly"))["next_tick"] is None
    [executor] = map(plain, commands.list_executors(admin))
    assert executor["executor_id"] == app.executor_id
    assert plain(commands.info(admin))["schema_status"] == "current"
    assert plain(commands.export_workflows(admin, ["ok"], tmp_path))["paths"]
    run = commands.replay(app, workflow_ids=["ok"])
    assert run.passed and plain(run)["results"][0]["outcome"] == "passed"
    assert plain(commands.patch_report(app))["patches"][0]["name"] == "fees"
    fork = commands.fork_workflow(admin, "ok", 1, new_workflow_id="ok-2")
    assert fork.to_dict()["forked_from"] == "ok"
    assert plain(commands.migrate(app.settings.database_url))["applied"] == []


def test_command_errors_say_what_to_do(make_app: Callable[..., Tether], tmp_path: Path) -> None:
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    with pytest.raises(TetherError, match="tether migrate"):
        commands.open_app(app_name="fresh", database_url=fresh)
    admin = commands.open_app(app_name="fresh", database_url=fresh, check_schema=False)
    assert commands.info(admin).schema_status == "missing: run `tether migrate`"

    app = make_app().launch()
    admin = commands.open_app(app_name=app.app_name, database_url=app.settings.database_url)
    with pytest.raises(WorkflowNotFoundError, match="tether workflows list"):
        commands.get_workflow(admin, "nope")
    with pytest.raises(ConfigurationError, match="ISO 8601"):
        commands.backfill_schedule(admin, "nightly", "yesterday", "today")
    with pytest.raises(ConfigurationError, match="--module"):
        commands.load_app(None, purpose="replay runs your workflow code")
