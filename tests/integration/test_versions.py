"""A workflow runs only on its own version (or a declared compatible one); else it is orphaned."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result
from tether.runtime.errors import ConfigurationError

import tether
from tether import Status, Tether
from tether.cli import cli

from .helpers import wait_until


def build(make_app: Callable[..., Tether], runs: list[str], version: str, **kw: object) -> Tether:
    # Waits stay in memory: these tests watch a running workflow, not a suspended one.
    app = make_app(version=version, **{"suspend_after": None, **kw})

    @app.workflow(name="job")
    def job() -> object:
        runs.append(version)
        return tether.recv("go", timeout=30)

    return app.launch()


def test_unrunnable_version_is_orphaned_never_run(make_app: Callable[..., Tether]) -> None:
    runs: list[str] = []
    v9 = build(make_app, runs, "v9")
    v9.start_workflow("job", workflow_id="j")
    wait_until(lambda: v9.list_steps("j"), what="the job to wait for its message")
    v9.shutdown()

    v1 = build(make_app, runs, "v1")
    assert v1.orphaned() == {"v9": 1}
    assert v1._executor is not None and v1._executor.recover() == 0
    rec = v1.get_workflow("j")
    assert (rec.status, rec.version, rec.executor_id) == (Status.PENDING, "v9", None)
    assert runs == ["v9"]
    summary = {row["version"]: row for row in v1.version_summary()}
    assert summary["v9"]["orphaned"] == 1 and summary["v1"]["executors"] == 1

    # An executor that declares v9 compatible may take it over.
    compatible = build(make_app, runs, "v1", compatible_with=("v9",))
    wait_until(lambda: runs == ["v9", "v1"], what="the compatible executor to run it")
    assert compatible.orphaned() == {} and v1.orphaned() == {}
    compatible.send("j", "done", topic="go")
    assert compatible.retrieve_workflow("j").result(timeout=10) == "done"
    assert compatible.get_workflow("j").version == "v9"  # still tethered to its version


def test_registry_rows_tags_and_current_pointer(make_app: Callable[..., Tether]) -> None:
    runs: list[str] = []
    v1 = build(make_app, runs, "v1")
    v1.start_workflow("job", workflow_id="a")
    v2 = build(make_app, runs, "v2")
    assert [v.version for v in v1.versions()] == ["v1", "v2"]  # in order of first launch
    wait_until(lambda: v1.versions()[0].open == {"PENDING": 1}, what="a to be open on v1")
    row1, row2 = v1.versions()
    assert (row1.current, row2.current) == (True, False)  # set on the app's first launch
    assert (row1.executors, row1.runnable_by, row1.orphaned, row1.state) == (1, 1, 0, "active")
    assert row1.first_seen <= row1.last_seen and row1.registered
    assert v1.version_summary()[0]["open"] == {"PENDING": 1}

    assert v1.tag_version("v1", "1.0.0") == "1.0.0"
    assert v1.tag_version("v2", "v2.0") == "2.0"  # PEP 440 normal form
    assert [v.release for v in v1.versions()] == ["1.0.0", "2.0"]
    for bad in ("not a version", "1.0-final-final", ""):
        with pytest.raises(ConfigurationError, match="invalid release tag.*PEP 440"):
            v1.tag_version("v1", bad)
    with pytest.raises(ConfigurationError, match="already tags version 'v1'"):
        v1.tag_version("v2", "1.0.0")
    with pytest.raises(ConfigurationError, match="unknown version 'v7'.*v1, v2"):
        v1.tag_version("v7", "7.0")

    assert v1.routing().current == "v1"
    assert v1.set_current_version("v2") == "v2" and v2.routing().current == "v2"
    assert v1.set_current_version("1.0.0") == "v1"  # a release tag names its version
    with pytest.raises(ConfigurationError, match="unknown version 'v7'"):
        v1.set_current_version("v7")
    assert v1.routing().current == "v1"
    assert v1.tag_version("v1", None) is None  # cleared
    v1.send("a", "done", topic="go")
    assert v1.retrieve_workflow("a").result(timeout=10) == "done"
    assert [v.open_total for v in v1.versions()] == [0, 0]


def test_wildcard_runs_every_version_and_keeps_each_workflows_version(
    make_app: Callable[..., Tether],
) -> None:
    with pytest.raises(ConfigurationError, match="must be a list of versions"):
        make_app(compatible_with="v9")
    runs: list[str] = []
    v9 = build(make_app, runs, "v9")
    v9.start_workflow("job", workflow_id="j")
    wait_until(lambda: v9.list_steps("j"), what="the job to wait for its message")
    v9.shutdown()
    assert v9.orphaned() == {"v9": 1}

    anyver = build(make_app, runs, "v1", compatible_with=("*",))
    wait_until(lambda: runs == ["v9", "v1"], what="the wildcard executor to run it")
    [me] = anyver.executors()
    assert set(me.runnable_versions) == {"*", "v1", "v9"}
    assert anyver.orphaned() == {} and anyver.get_workflow("j").version == "v9"
    anyver.send("j", "done", topic="go")
    assert anyver.retrieve_workflow("j").result(timeout=10) == "done"

    # A version first launched later joins the wildcard set at the next refresh.
    v5 = build(make_app, runs, "v5")
    v5.shutdown()
    wait_until(lambda: "v5" in anyver.runnable_versions(), what="v5 to join the runnable set")
    wait_until(
        lambda: "v5" in anyver.executors()[0].runnable_versions, what="the heartbeat to show v5"
    )


def test_versions_cli(make_app: Callable[..., Tether], database_url: str, app_name: str) -> None:
    def run(*args: str, code: int = 0) -> Result:
        full = ["--database-url", database_url, "--app", app_name, *args]
        result = CliRunner().invoke(cli, full, env={"TETHER_APP_VERSION": None})
        assert result.exit_code == code, (result.output, result.exception)
        return result

    runs: list[str] = []
    build(make_app, runs, "v1")
    build(make_app, runs, "v2", compatible_with=("v1",))
    assert "tagged v2 as release 2.0.1" in run("versions", "tag", "v2", "2.0.1").stdout
    assert "PEP 440" in run("versions", "tag", "v2", "two", code=1).stderr
    rows = json.loads(run("versions", "--json").stdout)
    assert [(r["version"], r["release"], r["current"]) for r in rows] == [
        ("v1", None, True),
        ("v2", "2.0.1", False),
    ]
    assert (rows[0]["executors"], rows[0]["runnable_by"]) == (1, 2)
    table = run("versions").stdout
    assert "2.0.1" in table and "current" in table and "+1 compatible" in table

    assert run("versions", "current").stdout.strip() == "current version: v1"
    assert "(was v1)" in run("versions", "current", "2.0.1").stdout
    assert json.loads(run("versions", "current", "--json").stdout)["current"] == "v2"
    assert "unknown version 'v8'" in run("versions", "current", "v8", code=1).stderr
    assert "cleared" in run("versions", "tag", "v2", "--clear").stdout


def test_lifecycle_states_and_retire(make_app: Callable[..., Tether]) -> None:
    runs: list[str] = []
    v1 = build(make_app, runs, "v1")
    v1.start_workflow("job", workflow_id="old")
    v2 = build(make_app, runs, "v2")
    wait_until(lambda: v1.list_steps("old"), what="the job to wait for its message")

    def states() -> dict[str, str]:
        return {v.version: v.state for v in v1.versions()}

    # A fresh canary never reads as drained (a revision that can go): it is idle.
    assert states() == {"v1": "active", "v2": "idle"}
    v1.set_current_version("v2")
    assert states() == {"v1": "draining", "v2": "idle"}  # routed to, no work yet
    with pytest.raises(ConfigurationError, match="draining and cannot be retired: it still has 1"):
        v1.retire_version("v1")
    with pytest.raises(ConfigurationError, match="idle and cannot be retired: new work is routed"):
        v1.retire_version("v2")
    v2.start_workflow("job", workflow_id="new")
    assert states()["v2"] == "active"
    v1.send("old", "done", topic="go")
    v1.send("new", "done", topic="go")
    assert v1.retrieve_workflow("old").result(timeout=10) == "done"
    assert v2.retrieve_workflow("new").result(timeout=10) == "done"
    assert states() == {"v1": "drained", "v2": "idle"}  # v2 had work, none open now
    assert v1.retire_version("v1").state == "retired"
    with pytest.raises(ConfigurationError, match="retired"):
        v1.set_current_version("v1")


def test_a_retired_version_refuses_launch_start_and_routing(
    make_app: Callable[..., Tether],
) -> None:
    runs: list[str] = []
    v1 = build(make_app, runs, "v1")
    build(make_app, runs, "v2").shutdown()
    assert v1.versions.get("v2").state == "idle"  # never had work, not routed
    assert v1.retire_version("v2").state == "retired"
    with pytest.raises(ConfigurationError, match="'v2' is retired, so it cannot launch.*unretire"):
        build(make_app, runs, "v2")
    with pytest.raises(ConfigurationError, match="'v2' is retired.*unretire v2"):
        v1.routing.set(ramping="v2", percent=10, force=True)
    v1.versions.unretire("v2")
    v2 = build(make_app, runs, "v2")
    v2.start_workflow("job", workflow_id="ok")
    wait_until(lambda: runs == ["v2"], what="v2 to run its workflow")

    # Retired while an executor of it still runs: it starts no new work.
    v2.send("ok", "done", topic="go")
    assert v2.retrieve_workflow("ok").result(timeout=10) == "done"
    v1.retire_version("v2")
    v2.versions._retired_seen = None  # the state is re-read once per heartbeat
    with pytest.raises(ConfigurationError, match="'v2' is retired, so it cannot start work"):
        v2.start_workflow("job", workflow_id="orphan")
    assert v1.store.workflows.get("orphan") is None


def test_routing_accepts_release_tags_and_refuses_versions_nobody_runs(
    make_app: Callable[..., Tether],
) -> None:
    runs: list[str] = []
    v1 = build(make_app, runs, "v1")
    v2 = build(make_app, runs, "v2")
    v1.tag_version("v2", "1.1.0")
    assert v1.routing.set(ramping="1.1.0", percent=10).ramping == "v2"
    v2.shutdown()
    with pytest.raises(ConfigurationError, match="no live executor runs version 'v2'.*--force"):
        v1.set_current_version("1.1.0")
    assert v1.routing().current == "v1"
    with pytest.raises(ConfigurationError, match="no live executor runs version 'v2'"):
        v1.routing.set(current="v2")
    routing, warnings = v1.routing.change(current="v2", force=True)
    assert routing.current == "v2" and routing.ramping is None
    assert warnings == ["no live executor runs version 'v2': its new work waits until one starts"]
    # Keeping the current version while changing the ramp is not refused.
    v1.routing.set(ramping="v1", percent=5)
    # Promoting the ramping version ends its ramp, and says so.
    _, notes = v1.versions.point_current("v1")
    assert notes == ["the ramp of v1 at 5% ended: v1 now gets all new work"]
