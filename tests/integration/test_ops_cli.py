"""The operator's view: what the CLI says about unknown apps, missing databases, versions
nobody runs, ramps, retags and waits (each line once misled someone)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import tether
from tether import Tether
from tether.cli import cli

from .helpers import wait_until


@pytest.fixture
def run(database_url: str, app_name: str) -> Callable[..., Result]:
    def invoke(*args: str, code: int = 0, app: str | None = None) -> Result:
        full = ["--database-url", database_url, "--app", app or app_name, *args]
        result = CliRunner().invoke(cli, full, env={"TETHER_APP_VERSION": None})
        assert result.exit_code == code, (result.output, result.exception)
        return result

    return invoke


def launch(make_app: Callable[..., Tether], version: str) -> Tether:
    app = make_app(version=version)

    @app.workflow(name="approval")
    def approval() -> object:
        return tether.recv("approved", timeout=3600)

    return app.launch()


def test_unknown_app_and_missing_database_are_errors(
    make_app: Callable[..., Tether],
    run: Callable[..., Result],
    app_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    launch(make_app, "v1")
    wrong = run("versions", code=1, app="expenses-typo").stderr
    assert "unknown app 'expenses-typo'" in wrong and app_name in wrong

    empty = tmp_path / "elsewhere"
    empty.mkdir()
    monkeypatch.chdir(empty)  # the default URL is ./tether.db
    env = {"TETHER_DATABASE_URL": None, "TETHER_APP_VERSION": None}
    result = CliRunner().invoke(cli, ["--app", app_name, "versions"], env=env)
    assert result.exit_code == 1 and "no database at sqlite:///tether.db" in result.stderr
    info = CliRunner().invoke(cli, ["--app", app_name, "info"], env=env)
    assert info.exit_code == 0 and "pass --module" in info.stdout
    assert "no database file yet" in info.stdout
    assert os.listdir(empty) == []  # nothing created by reading


def test_routing_versions_and_waits_read_right(
    make_app: Callable[..., Tether], run: Callable[..., Result]
) -> None:
    v1 = launch(make_app, "v1")
    v2 = launch(make_app, "v2")
    run("versions", "tag", "v2", "1.1.0")
    assert "(was 1.1.0)" in run("versions", "tag", "v2", "1.1.1").stdout
    assert "v2 (10% of new" in run("routing", "set", "--ramping", "1.1.1", "--percent", "10").stdout
    assert "idle" in run("versions").stdout  # the canary: no work yet, never "drained"

    v2.shutdown()
    refused = run("versions", "current", "1.1.1", code=1).stderr
    assert "no live executor runs version 'v2'" in refused and "--force" in refused
    forced = run("routing", "set", "--current", "v2", "--force").stdout
    assert "warning: no live executor runs version 'v2'" in forced
    run("routing", "set", "--current", "v1", "--ramping", "v2", "--percent", "5", "--force")
    assert "note: the ramp of v2 at 5% ended" in run("versions", "current", "v2", "--force").stdout

    v1.start_workflow("approval", workflow_id="exp-1")
    wait_until(lambda: v1.list_steps("exp-1"), what="the approval to wait")
    steps = run("workflows", "steps", "exp-1").stdout
    assert "until 20" in steps and " UTC" in steps  # a deadline, not epoch milliseconds
    assert v1.executor_id in steps  # which executor recorded each operation
    assert [op.executor_id for op in v1.list_steps("exp-1")] == [v1.executor_id]
    assert "DEAD" not in run("executors", "--all").stdout
