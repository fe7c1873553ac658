"""Moving open workflows to another version after replaying them, and forking workflows."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import update
from tether.runtime.errors import (
    ConfigurationError,
    DrainingInterrupt,
    WorkflowConflictError,
    WorkflowNotFoundError,
)
from tether.runtime.store.schema import executors as X

import tether
from tether import Status, Tether
from tether.cli import cli

from .helpers import wait_until


def build(make_app: Callable[..., Tether], version: str, calls: list[str], **kw: Any) -> Tether:
    """v1 records: 0 first, 1 event, 2-3 recv go (deadline, message), 4 second, 5-6 recv end.

    v2 inserts a step after ``recv go``, so a history past position 3 diverges on it.
    """
    # Waits stay in memory: these tests move workflows that are running, held by an executor.
    app = make_app(version=version, **{"suspend_after": None, **kw})

    @app.step(name="first")
    def first() -> str:
        calls.append(f"{version}:first")
        return "one"

    @app.step(name="extra")
    def extra() -> str:
        calls.append(f"{version}:extra")
        return "x"

    @app.step(name="second")
    def second(m: str) -> str:
        calls.append(f"{version}:second")
        return f"two:{m}"

    @app.workflow(name="flow")
    def flow() -> list[str]:
        out = [first()]
        tether.set_event("stage", "first done")
        m = tether.recv("go", timeout=60)
        if version != "v1":
            out.append(extra())
        out.append(second(m))
        out.append(tether.recv("end", timeout=60))
        return out

    return app.launch()


def at(app: Tether, wid: str, n: int) -> None:
    wait_until(lambda: len(app.list_steps(wid)) >= n, what=f"{wid} to record {n} operations")


def test_migration_moves_only_workflows_that_replay(make_app: Callable[..., Tether]) -> None:
    calls: list[str] = []
    v1 = build(make_app, "v1", calls)
    for wid in ("early", "late", "done"):
        v1.start_workflow("flow", workflow_id=wid)
    at(v1, "early", 3)  # waits for `go`
    for wid in ("late", "done"):
        v1.send(wid, "g", topic="go")
        at(v1, wid, 6)  # past `second`: waits for `end`
    v1.send("done", "e", topic="end")
    assert v1.retrieve_workflow("done").result(timeout=10) == ["one", "two:g", "e"]
    v1.shutdown()  # releases early and late, which wait on v1

    v2 = build(make_app, "v2", calls)
    dry = v2.migrate_workflows(from_version="v1", to_version="v2", dry_run=True)
    assert {r.workflow_id: r.outcome for r in dry.results} == {
        "early": "would_move",
        "late": "diverged",
    }
    late = next(r for r in dry.results if r.workflow_id == "late")
    assert late.divergence is not None and late.divergence["position"] == 4
    assert "position 4" in late.reason and "extra" in late.reason
    assert v2.get_workflow("early").version == "v1" and v2.versions.moves("early") == []

    before = v2.get_workflow("early")
    report = v2.migrate_workflows(from_version="v1", to_version="v2")
    assert report.moved == ["early"] and [r.workflow_id for r in report.left] == ["late"]
    moved = v2.get_workflow("early")
    assert (moved.version, moved.lease_epoch) == ("v2", before.lease_epoch + 1)
    assert v2.get_workflow("late").version == "v1"
    [move] = v2.versions.moves("early")
    assert (move["from_version"], move["to_version"], move["kind"]) == ("v1", "v2", "migrate")
    assert v2.executor_id in move["moved_by"] and move["detail"]["history_length"] == 3

    again = v2.migrate_workflows(from_version="v1", to_version="v2")  # re-run: moves nothing
    assert again.moved == [] and [r.workflow_id for r in again.results] == ["late"]
    by_id = v2.migrate_workflows(from_version="v1", to_version="v2", workflow_ids=["early"])
    assert [r.outcome for r in by_id.results] == ["nothing_to_do"]
    assert len(v2.versions.moves("early")) == 1

    # A v2 executor runs the moved workflow on v2's code, replaying v1's history.
    v2.send("early", "g", topic="go")
    v2.send("early", "e", topic="end")
    assert v2.retrieve_workflow("early").result(timeout=10) == ["one", "x", "two:g", "e"]
    assert calls.count("v2:first") == 0 and "v2:extra" in calls


def test_migration_refusals(make_app: Callable[..., Tether]) -> None:
    calls: list[str] = []
    v1 = build(make_app, "v1", calls)
    v1.start_workflow("flow", workflow_id="held")
    at(v1, "held", 3)  # running right now: v1 is alive and holds it
    v2 = build(make_app, "v2", calls)
    build(make_app, "v3", calls)

    report = v2.migrate_workflows(from_version="v1", to_version="v2")
    [r] = report.results
    assert (r.outcome, report.moved) == ("running", [])
    assert v1.executor_id in r.reason
    held = v2.get_workflow("held")
    assert (held.version, held.executor_id) == ("v1", v1.executor_id)
    # The move itself is fenced too: a live holder makes it match nothing.
    assert not v2.store.lineage.move(
        "held", from_version="v1", to_version="v2", epoch=held.lease_epoch, history_length=3,
        lease_timeout_ms=2000, moved_by="test", detail={},
    )  # fmt: skip
    assert v2.get_workflow("held").version == "v1" and v2.versions.moves("held") == []

    with pytest.raises(ConfigurationError, match="code loaded here is version 'v2'"):
        v2.migrate_workflows(from_version="v1", to_version="v3")
    with pytest.raises(ConfigurationError, match="unknown version 'v9'"):
        v2.migrate_workflows(from_version="v1", to_version="v9")
    with pytest.raises(ConfigurationError, match="both 'v2'"):
        v2.migrate_workflows(from_version="v2", to_version="v2")

    # v1 stops heartbeating and is taken for dead, but its workflow thread still runs.
    assert v1._executor is not None
    v1._executor.stop()
    with v1.store.db.write() as conn:
        conn.execute(
            update(X).where(X.c.app_name == v1.app_name, X.c.executor_id == v1.executor_id)
            .values(heartbeat_at=0)
        )  # fmt: skip
    assert v2.migrate_workflows(from_version="v1", to_version="v2").moved == ["held"]
    # The stale holder's next write (consuming `go`) is fenced out: v2 runs it to the end.
    v2.send("held", "g", topic="go")
    v2.send("held", "e", topic="end")
    assert v2.retrieve_workflow("held").result(timeout=10) == ["one", "x", "two:g", "e"]
    assert "v1:second" not in calls
    assert [op.version for op in v2.list_steps("held")] == ["v1"] * 3 + ["v2"] * 5
    # v1 was stopped by hand (taken for dead), so its shutdown drains nothing: when v2 won
    # the race for `go`, the stale thread still waits in recv; end it as a drain would.
    for wid in v1.engine.running_ids():
        v1.engine.signal(wid, DrainingInterrupt)
    wait_until(lambda: not v1.engine.running_ids(), what="v1's stale run to end")


def test_fork_copies_history_up_to_a_position(make_app: Callable[..., Tether]) -> None:
    calls: list[str] = []
    v1 = build(make_app, "v1", calls)
    v1.start_workflow("flow", workflow_id="w")
    v1.send("w", "g", topic="go")
    v1.send("w", "e", topic="end")
    assert v1.retrieve_workflow("w").result(timeout=10) == ["one", "two:g", "e"]

    fork = v1.fork("w", 4, new_workflow_id="w-again")  # keeps first, event and `recv go`
    assert (fork.forked_from, fork.forked_from_position, fork.version) == ("w", 4, "v1")
    assert fork.inputs == v1.get_workflow("w").inputs and fork.status == Status.PENDING
    kinds = [op.kind for op in v1.list_steps("w-again")][:4]
    assert kinds == ["step", "set_event", "deadline", "recv"]
    assert v1.get_event("w-again", "stage", timeout=1) == "first done"
    v1.send("w-again", "E", topic="end")
    assert v1.retrieve_workflow("w-again").result(timeout=10) == ["one", "two:g", "E"]
    assert (calls.count("v1:first"), calls.count("v1:second")) == (1, 2)
    assert v1.fork("w", 4, new_workflow_id="w-again").workflow_id == "w-again"  # idempotent
    listed = {r.workflow_id: r.forked_from for r in v1.list_workflows()}
    assert listed == {"w": None, "w-again": "w"}

    with pytest.raises(WorkflowConflictError, match="already exists"):
        v1.fork("w", 2, new_workflow_id="w-again")
    with pytest.raises(ConfigurationError, match="fork from a position in 0..7"):
        v1.fork("w", 8)
    with pytest.raises(WorkflowNotFoundError):
        v1.fork("nope", 0)

    # Onto v2 (which inserts a step after `recv go`): allowed up to where v2's code diverges,
    # and only from a process running v2.
    v2 = build(make_app, "v2", calls)
    with pytest.raises(ConfigurationError, match="code loaded here is version 'v1'"):
        v1.fork("w", 4, "v2")
    with pytest.raises(ConfigurationError, match="does not replay.*position 4"):
        v2.fork("w", 5, "v2")
    on_v2 = v2.fork("w", 4, "v2")
    assert on_v2.version == "v2" and on_v2.workflow_id.startswith("w-fork-")
    v2.send(on_v2.workflow_id, "E2", topic="end")
    assert v2.retrieve_workflow(on_v2.workflow_id).result(timeout=10) == [
        "one",
        "x",
        "two:g",
        "E2",
    ]


MODULE = """
import tether
from tether import Tether

app = Tether(version="v2", install_signal_handlers=False)  # app and database from TETHER_*


@app.step(name="first")
def first():
    return "one"


@app.step(name="extra")
def extra():
    return "x"


@app.step(name="second")
def second(m):
    return f"two:{m}"


@app.workflow(name="flow")
def flow():
    out = [first()]
    tether.set_event("stage", "first done")
    m = tether.recv("go", timeout=60)
    out.append(extra())
    out.append(second(m))
    out.append(tether.recv("end", timeout=60))
    return out
"""


def test_migrate_and_fork_cli(
    make_app: Callable[..., Tether],
    database_url: str,
    app_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = f"flows_{app_name}"
    (tmp_path / f"{module}.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    env = {"TETHER_APP_VERSION": None, "TETHER_APP_NAME": app_name}
    env["TETHER_DATABASE_URL"] = database_url

    def run(*args: str, code: int = 0) -> Result:
        full = ["--database-url", database_url, "--app", app_name, *args]
        result = CliRunner().invoke(cli, full, env=env)
        assert result.exit_code == code, (result.output, result.exception)
        return result

    calls: list[str] = []
    v1 = build(make_app, "v1", calls)
    v1.start_workflow("flow", workflow_id="a")
    at(v1, "a", 3)
    v1.shutdown()
    v2 = build(make_app, "v2", calls)

    assert "--module" in run("workflows", "migrate", "--from", "v1", "--to", "v2", code=1).stderr
    args = ["workflows", "migrate", "--from", "v1", "--to", "v2", "--module", f"{module}:app"]
    dry = json.loads(run(*args, "--dry-run", "--json").stdout)
    assert (dry["counts"], dry["dry_run"]) == ({"would_move": 1}, True)
    assert "moved 1 workflow(s) from v1 to v2" in run(*args).stdout
    assert "moved 0 workflow(s)" in run(*args).stdout  # re-run: nothing left to move
    got = json.loads(run("workflows", "get", "a", "--json").stdout)
    assert got["version"] == "v2" and [m["to_version"] for m in got["moves"]] == ["v2"]
    assert "v1 -> v2 (migrate)" in run("workflows", "get", "a").stdout
    assert "moved v1 -> v2" in run("workflows", "steps", "a").stdout

    out = json.loads(run("workflows", "fork", "a", "--position", "1", "--id", "b", "--json").stdout)
    assert (out["workflow_id"], out["forked_from"], out["forked_from_position"]) == ("b", "a", 1)
    assert "a @ 1" in run("workflows", "get", "b").stdout
    assert "FORKED FROM" in run("workflows", "list").stdout
    assert "fork from a position in 0..3" in run("workflows", "fork", "a", "-p", "9", code=1).stderr
    for wid in ("a", "b"):
        v2.send(wid, "g", topic="go")
        v2.send(wid, "e", topic="end")
        assert v2.retrieve_workflow(wid).result(timeout=10) == ["one", "x", "two:g", "e"]


def test_migrate_checks_the_code_it_loads_not_its_name(make_app: Callable[..., Tether]) -> None:
    def code(version: str | None, *, changed: bool = False) -> Tether:
        app = make_app(version=version)  # None: named by a hash of its workflow sources

        if changed:

            @app.workflow(name="w")
            def w() -> object:
                return ["changed", tether.recv("go", timeout=60)]

        else:

            @app.workflow(name="w")
            def w() -> object:
                return tether.recv("go", timeout=60)

        return app

    v1 = code("v1").launch()
    v1.start_workflow("w", workflow_id="a")
    wait_until(lambda: v1.list_steps("a"), what="a to wait for go")
    v1.shutdown()
    v2 = code("v2").launch()  # the same sources, released as v2

    unnamed = code(None)
    assert unnamed.resolve_version()[0].startswith("src-")
    report = unnamed.migrate_workflows(from_version="v1", to_version="v2")
    assert report.moved == ["a"] and v2.get_workflow("a").version == "v2"

    other = code(None, changed=True)
    with pytest.raises(ConfigurationError, match=r"sources hash to src-\w+; 'v2' launched with"):
        other.migrate_workflows(from_version="v1", to_version="v2")
    with pytest.raises(ConfigurationError, match="load 'v2''s code.*TETHER_APP_VERSION=v2"):
        other.fork("a", 0, "v2")
    v2.send("a", "g", topic="go")
    assert v2.retrieve_workflow("a").result(timeout=10) == "g"


def test_a_move_is_refused_when_history_grew_after_the_replay(
    make_app: Callable[..., Tether],
) -> None:
    """A holder taken for dead may still be running and checkpoint between the migrator's
    replay and its move (its fence still holds: nobody claimed it). The move must notice
    that the history it replayed is no longer the whole history, and not move."""
    inside, release = threading.Event(), threading.Event()

    def build_gated(version: str, during_replay: Callable[[], None] | None) -> Tether:
        app = make_app(version=version)

        @app.step(name="first")
        def first() -> str:
            return "one"

        @app.step(name="gated")
        def gated() -> str:
            inside.set()
            release.wait(30)
            return "two"

        @app.workflow(name="flow")
        def flow() -> list[str]:
            out = [first()]
            if during_replay is not None:
                during_replay()  # v2's code only ever runs here under the migrator's replay
            out.append(gated())
            out.append(str(tether.recv("end", timeout=60)))
            return out

        return app.launch()

    v1 = build_gated("v1", None)
    v1.start_workflow("flow", workflow_id="g")
    assert inside.wait(10)  # v1 is inside `gated`; its history holds `first` only
    # v1 stops heartbeating and is taken for dead, but its workflow thread still runs.
    assert v1._executor is not None
    v1._executor.stop()
    with v1.store.db.write() as conn:
        conn.execute(
            update(X).where(X.c.app_name == v1.app_name, X.c.executor_id == v1.executor_id)
            .values(heartbeat_at=0)
        )  # fmt: skip

    def let_the_stale_holder_checkpoint() -> None:
        release.set()
        at(v1, "g", 2)

    v2 = build_gated("v2", let_the_stale_holder_checkpoint)
    report = v2.migrate_workflows(from_version="v1", to_version="v2")
    assert release.is_set(), "the replay did not run v2's code"
    [r] = report.results
    assert (r.outcome, report.moved) == ("changed", [])
    assert v2.get_workflow("g").version == "v1" and v2.versions.moves("g") == []
    # The workflow goes on where it was, on v1's thread (still its holder).
    v2.send("g", "e", topic="end")
    assert v1.retrieve_workflow("g").result(timeout=10) == ["one", "two", "e"]


def test_a_suspended_workflow_moves_while_its_executor_lives(
    make_app: Callable[..., Tether],
) -> None:
    """An agent suspended in a wait is held by nobody: it moves to v2 while v1's executor is
    alive (no need to stop v1 first), and finishes on v2 when its message comes."""
    calls: list[str] = []
    v1 = build(make_app, "v1", calls, suspend_after=0.2)
    v1.start_workflow("flow", workflow_id="s")
    wait_until(lambda: v1.get_workflow("s").status == Status.SUSPENDED, what="suspension")
    v2 = build(make_app, "v2", calls, suspend_after=0.2)
    report = v2.migrate_workflows(from_version="v1", to_version="v2")
    assert report.moved == ["s"], report.results
    v2.send("s", "go", topic="go")
    v2.send("s", "end", topic="end")
    assert v2.retrieve_workflow("s").result(timeout=30) == ["one", "x", "two:go", "end"]
    assert v2.get_workflow("s").version == "v2"
    assert "v1:second" not in calls and "v2:second" in calls
