"""A parent suspended on a child wakes whichever way the child ends: its timeout, recovery
exhausted, a cancel from a Client, deletion; and a wake lost after the end's commit is found
by the executor's audit (see store.waits and commit.note_ended)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, update
from tether.runtime.store.schema import workflows as W

import tether
from tether import Client, Status, Tether, WorkflowHandle

from .helpers import wait_until
from .test_suspension import GRACE, suspended

# The audit's sweep (wake_stranded) runs every half lease: a long lease keeps it out of
# the tests of the direct wake, which must not need it.
LEASE = 60.0


def family(make_app: Callable[..., Tether], **child_options: Any) -> Tether:
    app = make_app(suspend_after=GRACE, lease_timeout=LEASE)

    @app.workflow(name="child", **child_options)
    def child() -> Any:
        return tether.recv("go")

    @app.workflow(name="parent")
    def parent() -> str:
        try:
            return f"child said {child()}"
        except tether.TetherError as exc:
            return type(exc).__name__

    return app.launch()


def both_suspended(app: Tether) -> tuple[WorkflowHandle, str]:
    h = app.start_workflow("parent", workflow_id="p")
    wait_until(lambda: suspended(app, "p"), what="the parent to suspend")
    (child_id,) = [op.child_id for op in app.list_steps("p") if op.kind == "child"]
    assert child_id is not None
    wait_until(lambda: suspended(app, child_id), what="the child to suspend")
    assert (app.get_workflow("p").wait_kind, app.get_workflow("p").wait_on) == ("child", child_id)
    return h, child_id


def set_row(app: Tether, wid: str, **values: Any) -> None:
    """Change a row behind tether's back (what a crash or a lost wake leaves)."""
    with app.store.db.write() as conn:
        conn.execute(
            update(W)
            .where(and_(W.c.app_name == app.app_name, W.c.workflow_id == wid))
            .values(**values)
        )


def test_a_child_timeout_wakes_its_suspended_parent(make_app: Callable[..., Tether]) -> None:
    app = family(make_app, timeout=1.5)
    h, child_id = both_suspended(app)
    assert h.result(timeout=15) == "WorkflowTimeoutError"
    assert app.get_workflow(child_id).status == Status.CANCELLED


def test_recovery_exhausted_wakes_its_suspended_parent(make_app: Callable[..., Tether]) -> None:
    app = family(make_app, max_recovery_attempts=1)
    h, child_id = both_suspended(app)
    # As a crash leaves it: held by an executor that is gone, one takeover behind it.
    set_row(app, child_id, status=Status.PENDING, executor_id="gone", recovery_attempts=1)
    assert h.result(timeout=15) == "WorkflowFailedError"
    assert app.get_workflow(child_id).status == Status.RECOVERY_EXHAUSTED


def test_a_cancel_from_a_client_wakes_the_suspended_parent(
    make_app: Callable[..., Tether], database_url: str, app_name: str
) -> None:
    app = family(make_app)
    h, child_id = both_suspended(app)
    client = Client(database_url, app_name=app_name)
    try:
        assert client.cancel(child_id) == [child_id]
    finally:
        client.close()
    assert h.result(timeout=15) == "WorkflowCancelledError"


def test_deleting_an_ended_child_wakes_the_suspended_parent(
    make_app: Callable[..., Tether],
) -> None:
    app = family(make_app)
    h, child_id = both_suspended(app)
    set_row(app, child_id, status=Status.CANCELLED)  # ended with its wake lost
    app.delete_workflow(child_id)
    assert h.result(timeout=15) == "WorkflowNotFoundError"


def test_the_audit_wakes_a_parent_whose_wake_was_lost(make_app: Callable[..., Tether]) -> None:
    app = family(make_app)
    h, child_id = both_suspended(app)
    set_row(app, child_id, status=Status.CANCELLED)  # ended with its wake lost
    assert app.get_workflow("p").status == Status.SUSPENDED
    app._executor.audit(force=True)
    assert h.result(timeout=15) == "WorkflowCancelledError"
