"""The ``tether`` CLI against a real database, with workflows created by a launched app."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner, Result
from tether.runtime.errors import WorkflowNotFoundError
from tether.runtime.store import migrate as migrations

import tether
from tether import Tether
from tether.cli import cli


@pytest.fixture
def run(database_url: str, app_name: str) -> Callable[..., Result]:
    """Invoke the CLI on this test's database and app name."""

    def invoke(*args: str, code: int = 0) -> Result:
        full = ["--database-url", database_url, "--app", app_name, *args]
        result = CliRunner().invoke(cli, full, env={"TETHER_APP_VERSION": None})
        assert result.exit_code == code, (result.output, result.exception)
        return result

    return invoke


def run_json(run: Callable[..., Result], *args: str) -> Any:
    return json.loads(run("--json", *args).stdout)


def build(make_app: Callable[..., Tether]) -> tuple[Tether, dict[str, Any]]:
    """A launched app with a workflow that succeeds or fails, and one that waits for a message
    (in memory: these tests read it as a running workflow)."""
    app = make_app(suspend_after=None)

    @app.step()
    def charge(order: str) -> dict[str, Any]:
        if order == "bad":
            raise ValueError("card declined")
        return {"order": order, "charged": True}

    @app.workflow()
    def refund(order: str) -> dict[str, Any]:
        charge(order)
        return {"refunded": order, "on": dt.date(2030, 1, 2)}  # not plain JSON when loaded

    @app.workflow()
    def waiter() -> Any:
        return tether.recv(timeout=60)

    app.launch()
    return app, {"refund": refund, "waiter": waiter}


def test_list_get_and_steps(make_app: Callable[..., Tether], run: Callable[..., Result]) -> None:
    app, wf = build(make_app)
    assert app.start_workflow(wf["refund"], "o-1", workflow_id="ok").result(timeout=10)
    with pytest.raises(ValueError):
        app.start_workflow(wf["refund"], "bad", workflow_id="failed").result(timeout=10)

    rows = run_json(run, "workflows", "list")
    assert {r["workflow_id"]: r["status"] for r in rows} == {"ok": "SUCCESS", "failed": "ERROR"}
    only = run_json(run, "workflows", "list", "--status", "error", "--version", "v1")
    assert [r["workflow_id"] for r in only] == ["failed"]
    assert run_json(run, "workflows", "list", "--name", "nobody") == []
    assert len(run_json(run, "workflows", "list", "--limit", "1", "--offset", "1")) == 1

    got = json.loads(run("workflows", "get", "ok", "--json").stdout)
    assert got["output"] == {"refunded": "o-1", "on": "2030-01-02"}
    assert got["inputs"]["args"] == ["o-1"]
    steps = run_json(run, "workflows", "steps", "failed")
    assert [(s["name"].rsplit(".", 1)[-1], s["error"]["message"]) for s in steps] == [
        ("charge", "card declined")
    ]

    table = run("workflows", "list").stdout
    assert "failed" in table and "ERROR" in table and "SUCCESS" in table
    assert "card declined" in run("workflows", "get", "failed").stdout
    assert "charge" in run("workflows", "steps", "ok").stdout


def test_cancel_and_resume_without_launch(
    make_app: Callable[..., Tether], run: Callable[..., Result]
) -> None:
    app, wf = build(make_app)
    waiting = app.start_workflow(wf["waiter"], workflow_id="waiting")
    out = run_json(run, "workflows", "cancel", "waiting")
    assert (out["cancelled"], out["status"]) == (["waiting"], "CANCELLED")
    assert waiting.status() == "CANCELLED"
    assert "nothing to cancel" in run("workflows", "cancel", "waiting").stdout

    out = run_json(run, "workflows", "resume", "waiting")
    assert (out["previous_status"], out["status"], out["resumed"]) == ("CANCELLED", "PENDING", True)
    assert "nothing to resume" in run("workflows", "resume", "waiting").stdout
    # The CLI only reopened it; the launched app (a separate executor) runs it to the end.
    app.send("waiting", "go")
    assert waiting.result(timeout=10) == "go"


def test_executors_and_versions(
    make_app: Callable[..., Tether], run: Callable[..., Result]
) -> None:
    app, wf = build(make_app)
    app.start_workflow(wf["waiter"], workflow_id="waiting")
    [live] = run_json(run, "executors")
    assert (live["executor_id"], live["version"], live["alive"]) == (app.executor_id, "v1", True)
    [row] = run_json(run, "versions")
    assert (row["version"], row["executors"], row["is_orphaned"]) == ("v1", 1, False)

    app.shutdown(grace=0.5)  # drains: the waiting workflow stays PENDING on v1, unheld
    assert run_json(run, "executors") == []
    [stopped] = run_json(run, "executors", "--all")
    assert (stopped["state"], stopped["alive"]) == ("STOPPED", False)
    [row] = run_json(run, "versions")
    assert (row["open"], row["executors"], row["orphaned"]) == ({"PENDING": 1}, 0, 1)
    assert "yes (1)" in run("versions").stdout


def test_migrate_and_info(
    backend: str, database_url: str, app_name: str, run: Callable[..., Result]
) -> None:
    migrated = run_json(run, "migrate")
    assert migrated["revision"] == migrations.head()
    assert run_json(run, "migrate")["applied"] == []

    url = database_url
    if backend == "postgres":  # trust auth accepts any password: it must not be shown
        url = database_url.replace("postgres@", "postgres:s3cret@")
    result = CliRunner().invoke(
        cli,
        ["--database-url", url, "--app", app_name, "info", "--json"],
        env={"TETHER_APP_VERSION": "v9", "TETHER_EXECUTOR_ID": "ex-cli"},
    )
    data = json.loads(result.stdout)
    assert "s3cret" not in result.stdout
    assert (data["version"], data["version_source"]) == ("v9", "TETHER_APP_VERSION")
    assert (data["executor_id"], data["schema_revision"]) == ("ex-cli", migrations.head())
    assert data["schema_status"] == "current"


def test_errors_are_one_line_unless_debug(tmp_path: Any, app_name: str) -> None:
    fresh = ["--database-url", f"sqlite:///{tmp_path / 'fresh.db'}", "--app", app_name]
    result = CliRunner().invoke(cli, [*fresh, "workflows", "list"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "tether migrate" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output

    CliRunner().invoke(cli, [*fresh, "migrate"])
    result = CliRunner().invoke(cli, [*fresh, "workflows", "get", "nope"])
    assert (result.exit_code, result.stdout) == (1, "")
    assert "no workflow 'nope'" in result.stderr

    result = CliRunner().invoke(cli, [*fresh, "--debug", "workflows", "get", "nope"])
    assert isinstance(result.exception, WorkflowNotFoundError)

    result = CliRunner().invoke(cli, ["workflows", "list"], env={"TETHER_APP_NAME": None})
    assert result.exit_code == 1 and "--app" in result.stderr


def test_help_names_every_env_var() -> None:
    text = CliRunner().invoke(cli, ["--help"]).output
    for var in ("TETHER_DATABASE_URL", "TETHER_APP_NAME", "TETHER_JSON", "TETHER_DEBUG"):
        assert var in text
