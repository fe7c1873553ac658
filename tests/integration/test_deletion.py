"""Deleting workflows with their children, operations, messages, events and streams."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from tether.runtime.errors import ConfigurationError, WorkflowNotFoundError
from tether.runtime.store import schema

import tether
from tether import Tether
from tether.cli import cli


def _rows(app: Tether, ids: list[str]) -> dict[str, int]:
    counts = {}
    with app.store.db.read() as conn:
        for table, column in (
            (schema.workflows, "workflow_id"),
            (schema.operations, "workflow_id"),
            (schema.events, "workflow_id"),
            (schema.messages, "dest_id"),
            (schema.message_keys, "dest_id"),
        ):
            counts[table.name] = conn.execute(
                select(func.count()).where(
                    table.c.app_name == app.app_name, table.c[column].in_(ids)
                )
            ).scalar_one()
    return counts


def test_delete_a_workflow_and_its_children(
    make_app: Callable[..., Tether], database_url: str
) -> None:
    app = make_app()

    @app.workflow(name="leaf")
    def leaf() -> int:
        tether.set_event("e", 1)
        return 1

    @app.workflow(name="root")
    def root() -> int:
        tether.set_event("e", 2)
        return int(leaf()) + int(leaf())

    @app.workflow(name="waiter")
    def waiter() -> object:
        return tether.recv("go", timeout=30)

    app.launch()
    h = app.start_workflow(root, workflow_id="root")
    assert h.result(timeout=10) == 2
    app.send("root", "late", "x", idempotency_key="k")  # an unread message and its key
    ids = ["root", *sorted(r.workflow_id for r in app.list_workflows(parent_id="root"))]
    assert len(ids) == 3 and all(_rows(app, ids).values())

    w = app.start_workflow(waiter)
    with pytest.raises(ConfigurationError, match="cancel it first"):
        app.delete_workflow(w.workflow_id)
    assert app.get_workflow(w.workflow_id)  # nothing deleted

    assert sorted(app.delete_workflow("root")) == sorted(ids)
    assert not any(_rows(app, ids).values())
    with pytest.raises(WorkflowNotFoundError):
        app.delete_workflow("root")

    app.cancel(w.workflow_id)
    base = ["--database-url", database_url, "--app", app.app_name, "workflows", "delete"]
    out = CliRunner().invoke(cli, [*base, w.workflow_id])
    assert out.exit_code == 0, out.output
    assert f"deleted {w.workflow_id}" in out.output
    assert app.list_workflows(id_prefix=w.workflow_id) == []
