"""Retention over a real fleet: finished workflows go with their steps, messages and events,
in bounded batches; open, parked, a running parent's child and an open fork's origin stay;
the row budget keeps the newest; the patch report then says "safe to remove"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select, update
from tether.runtime.store.schema import events, messages, operations
from tether.runtime.store.schema import workflows as W

import tether
from tether import Status, Tether

from .helpers import wait_until


def fleet(make_app: Callable[..., Tether]) -> Tether:
    app = make_app()

    @app.step(name="work")
    def work(n: int) -> int:
        return n + 1

    @app.workflow(name="simple")
    def simple(n: int) -> int:
        tether.set_event("seen", n)
        if tether.patch("new-path"):
            return work(n)
        return work(n) - 1

    @app.workflow(name="kid")
    def kid(n: int) -> int:
        return work(n)

    @app.workflow(name="parent")
    def parent() -> Any:
        app.start_workflow(kid, 1).result()
        return tether.recv("go", timeout=3600)

    @app.workflow(name="gate")
    def gate() -> Any:
        work(0)
        return tether.recv("go", timeout=3600)

    app.launch()
    return app


def status(app: Tether, wid: str) -> str:
    return app.get_workflow(wid).status


def finish(app: Tether, wid: str) -> None:
    wait_until(lambda: status(app, wid) not in Status.OPEN, 15, f"{wid} to finish")


def count(app: Tether, table: Any, column: Any, ids: list[str]) -> int:
    stmt = select(func.count()).where(table.c.app_name == app.app_name, column.in_(ids))
    with app.store.db.read() as conn:
        return int(conn.execute(stmt).scalar() or 0)


def test_collect_keeps_what_is_needed(make_app: Callable[..., Tether]) -> None:
    app = fleet(make_app)
    done = [app.start_workflow("simple", i, workflow_id=f"s{i}").workflow_id for i in range(5)]
    for wid in done:
        finish(app, wid)
    app.send("s0", "a message nobody read")  # rows addressed to a finished workflow
    parent = app.start_workflow("parent", workflow_id="p").workflow_id
    wait_until(lambda: app.list_workflows(name="kid", status=[Status.SUCCESS]), 15, "the kid")
    [kid] = [w.workflow_id for w in app.list_workflows(name="kid")]
    origin = app.start_workflow("gate", workflow_id="origin").workflow_id
    wait_until(lambda: app.list_steps(origin), 15, "origin's first step")
    app.send(origin, "done", topic="go")
    finish(app, origin)
    fork = app.versions.fork(origin, 1, new_workflow_id="fork").workflow_id
    wait_until(lambda: len(app.list_steps(fork)) >= 1 and status(app, fork) == "PENDING", 15, "f")
    with app.store.db.write() as conn:  # a finished history the fleet then parked
        conn.execute(
            update(W)
            .where(W.c.app_name == app.app_name, W.c.workflow_id == "s4")
            .values(status=Status.PARKED)
        )
    assert count(app, operations, operations.c.workflow_id, done) > 0
    assert count(app, events, events.c.workflow_id, done) == 5
    assert count(app, messages, messages.c.dest_id, ["s0"]) == 1

    dry = app.retention.collect(max_age=0, dry_run=True)
    assert dry.dry_run and dry.deleted == 4  # s0..s3; not s4 (parked), kid, origin, p, fork
    report = app.retention.collect(max_age=0, batch_size=3)
    assert (report.deleted, report.batches) == (4, 2)
    gone = ["s0", "s1", "s2", "s3"]
    assert app.list_workflows(name="simple") == [app.get_workflow("s4")]
    assert count(app, operations, operations.c.workflow_id, gone) == 0
    assert count(app, events, events.c.workflow_id, gone) == 0
    assert count(app, messages, messages.c.dest_id, gone) == 0
    assert report.deleted_rows > 0
    for kept in (kid, origin, parent, fork, "s4"):
        assert app.get_workflow(kept)

    app.send(parent, "done", topic="go")
    app.send(fork, "done", topic="go")
    finish(app, parent)
    finish(app, fork)
    again = app.retention.collect(max_age=0)
    assert again.deleted == 4  # the parent, its kid, the fork and its origin
    assert {w.workflow_id for w in app.list_workflows()} == {"s4"}


def test_row_budget_keeps_the_newest(make_app: Callable[..., Tether]) -> None:
    app = fleet(make_app)
    ids = []
    for i in range(6):
        ids.append(app.start_workflow("simple", i, workflow_id=f"b{i}").workflow_id)
        finish(app, ids[-1])
        wait_until(lambda w=ids[-1]: app.get_workflow(w).completed_at < tether_now(), 5, "a tick")
    report = app.retention.collect(max_workflows=2, batch_size=1000)
    assert report.deleted == 4
    assert sorted(w.workflow_id for w in app.list_workflows()) == ["b4", "b5"]
    assert app.retention.collect(max_workflows=2).deleted == 0


def tether_now() -> int:
    from tether.runtime.clock import now_ms

    return now_ms()


def test_patch_becomes_safe_to_remove(make_app: Callable[..., Tether]) -> None:
    app = fleet(make_app)
    finish(app, app.start_workflow("simple", 1).workflow_id)
    before = app.versions.patch_report().get("new-path")
    assert (before.verdict, before.markers) == ("safe to deprecate", 1)
    app.retention.collect(max_age=0)
    after = app.versions.patch_report().get("new-path")
    assert (after.verdict, after.markers) == ("safe to remove", 0)


def test_scheduled_collection(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.workflow(name="simple")
    def simple(n: int) -> int:
        return n

    policy = app.retention(max_age="0s", cron="0 3 * * *")
    assert policy.max_age == 0
    app.launch()
    wid = app.start_workflow("simple", 1).workflow_id
    finish(app, wid)
    run = app.schedules.trigger("tether.retention")
    finish(app, run)
    result = app.get_workflow(run)
    assert result.status == Status.SUCCESS and result.output["deleted"] >= 1
    assert [w.workflow_id for w in app.list_workflows()] == [run]


def test_tether_gc(make_app: Callable[..., Tether], database_url: str, app_name: str) -> None:
    import json

    from click.testing import CliRunner

    from tether.cli import cli

    app = fleet(make_app)
    for i in range(3):
        finish(app, app.start_workflow("simple", i).workflow_id)
    base = ["--database-url", database_url, "--app", app_name, "gc"]
    usage = CliRunner().invoke(cli, base)
    assert usage.exit_code == 2 and "--older-than" in usage.output
    dry = CliRunner().invoke(cli, [*base, "--older-than", "0s", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["deleted"] == 3 and len(app.list_workflows()) == 3
    done = CliRunner().invoke(cli, [*base, "--older-than", "0s", "--batch-size", "2"])
    assert done.exit_code == 0, done.output
    assert "deleted 3 finished workflow(s)" in done.output and "2 batch(es)" in done.output
    assert app.list_workflows() == []
