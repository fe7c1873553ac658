"""Listing workflows by id prefix, parent, queue, forked-from and time windows."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

from click.testing import CliRunner

from tether import Tether
from tether.cli import cli
from tether.commands import list_workflows


def test_list_filters(make_app: Callable[..., Tether]) -> None:
    app = make_app()
    q = app.queue("q")

    @app.workflow(name="leaf")
    def leaf(x: int) -> int:
        return x

    @app.workflow(name="parent")
    def parent() -> int:
        return int(leaf(1)) + int(leaf(2))

    app.launch()
    p = app.start_workflow(parent, workflow_id="tree")
    assert p.result(timeout=10) == 3
    queued = q.enqueue(leaf, 5, workflow_id="order-2")
    assert queued.result(timeout=10) == 5
    app.start_workflow(leaf, 7, workflow_id="other-1").result(timeout=10)
    fork = app.versions.fork("order-2", 0, new_workflow_id="order-2-again")
    app.retrieve_workflow(fork.workflow_id).result(timeout=10)

    def ids(**filters: object) -> set[str]:
        return {r.workflow_id for r in app.list_workflows(**filters)}  # type: ignore[arg-type]

    assert ids(id_prefix="order-") == {"order-2", "order-2-again"}
    assert ids(id_prefix="order-2-") == {"order-2-again"}
    assert ids(id_prefix="%") == set()  # no wildcards
    assert len(ids(parent_id="tree")) == 2
    assert ids(queue="q") == {"order-2"}
    assert ids(forked_from="order-2") == {"order-2-again"}
    other = app.get_workflow("other-1")
    assert "other-1" in ids(created_after=other.created_at)
    assert "tree" not in ids(created_after=other.created_at)
    assert ids(created_before=app.get_workflow("tree").created_at) == set()
    done = other.completed_at
    assert done is not None
    assert "other-1" in ids(completed_after=done, completed_before=done + 1)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert ids(completed_after=later) == set()
    # The command layer takes ISO 8601 strings.
    iso = later.isoformat()
    assert list_workflows(app, created_before=iso, id_prefix="other") == [other]


def test_list_filters_from_the_cli(make_app: Callable[..., Tether], database_url: str) -> None:
    app = make_app()

    @app.workflow(name="leaf")
    def leaf(x: int) -> int:
        return x

    app.launch()
    for wid in ("a-1", "a-2", "b-1"):
        app.start_workflow(leaf, 1, workflow_id=wid).result(timeout=10)
    base = ["--database-url", database_url, "--app", app.app_name, "--json", "workflows", "list"]
    out = CliRunner().invoke(cli, [*base, "--prefix", "a-", "--created-after", "2000-01-01"])
    assert out.exit_code == 0, out.output
    assert sorted(r["workflow_id"] for r in json.loads(out.stdout)) == ["a-1", "a-2"]
    bad = CliRunner().invoke(cli, [*base, "--created-after", "yesterday"])
    assert bad.exit_code != 0 and "ISO 8601" in bad.output
