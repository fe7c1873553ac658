"""Messages to a workflow id that does not exist are refused (a typo must not lose an
approval), from outside and from inside a workflow; the Client sends, reads events, cancels
and resumes like the app; get_event has one shape, launched or not, sync or async."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from tether.runtime.errors import WorkflowNotFoundError
from tether.versioning.replay import Replayer

import tether
from tether import Client, Status, Tether
from tether.cli import cli

from .helpers import wait_until


def expense_app(make_app: Callable[..., Tether]) -> Tether:
    app = make_app()

    @app.workflow(name="expense")
    def expense() -> object:
        tether.set_event("stage", "awaiting approval")
        return tether.recv("approval", timeout=60)

    @app.workflow(name="notifier")
    def notifier(dest: str) -> str:
        try:
            tether.send(dest, "paid", topic="note")
            outcome = "sent"
        except WorkflowNotFoundError:
            outcome = "no such workflow"
        tether.recv("go", timeout=60)
        return outcome

    return app.launch()


def test_send_to_a_missing_workflow_raises_unless_allowed(
    make_app: Callable[..., Tether], database_url: str, app_name: str
) -> None:
    app = expense_app(make_app)
    with pytest.raises(WorkflowNotFoundError, match="no workflow 'exp-1x'.*allow_missing=True"):
        app.send("exp-1x", {"approved": True}, topic="approval")
    with Client(database_url, app_name) as client, pytest.raises(WorkflowNotFoundError):
        client.send("exp-1x", {"approved": True}, topic="approval")

    # Sending ahead of a workflow that will be started with that id.
    app.send("exp-2", {"approved": True}, topic="approval", allow_missing=True)
    assert app.start_workflow("expense", workflow_id="exp-2").result(timeout=10) == {
        "approved": True
    }
    with pytest.raises(WorkflowNotFoundError):  # nothing was left behind for exp-1x
        app.get_workflow("exp-1x")
    h = app.start_workflow("expense", workflow_id="exp-1x")
    wait_until(lambda: app.list_steps("exp-1x"), what="exp-1x to wait")
    app.send("exp-1x", "late", topic="approval")
    assert h.result(timeout=10) == "late"  # the refused message was never delivered


def test_send_inside_a_workflow_raises_and_replays_the_same(
    make_app: Callable[..., Tether],
) -> None:
    app = expense_app(make_app)
    h = app.start_workflow("notifier", "ghost", workflow_id="n-1")
    wait_until(lambda: len(app.list_steps("n-1")) >= 2, what="n-1 to wait for go")
    (send_op,) = [op for op in app.list_steps("n-1") if op.kind == "send"]
    assert send_op.error is not None and "WorkflowNotFoundError" in send_op.error
    app.start_workflow("expense", workflow_id="ghost")  # it exists now
    assert Replayer(app).replay("n-1").passed  # the recorded refusal replays as a refusal
    app.send("n-1", 1, topic="go")
    assert h.result(timeout=10) == "no such workflow"


def test_client_is_complete_and_get_event_has_one_shape(
    make_app: Callable[..., Tether], database_url: str, app_name: str
) -> None:
    app = expense_app(make_app)
    admin = make_app()  # never launched
    app.start_workflow("expense", workflow_id="exp-3")
    assert admin.get_event("exp-3", "stage", timeout=10) == "awaiting approval"
    assert asyncio.run(app.get_event_async("exp-3", "stage")) == "awaiting approval"
    assert asyncio.run(admin.get_event_async("nope", "stage", timeout=0)) is None
    with Client(database_url, app_name) as client:
        assert client.get_event("exp-3", "stage", timeout=10) == "awaiting approval"
        assert asyncio.run(client.get_event_async("exp-3", "stage")) == "awaiting approval"
        assert client.cancel("exp-3") == ["exp-3"]
        assert client.get_workflow("exp-3").status == Status.CANCELLED
        handle = client.resume("exp-3")
        assert client.get_workflow("exp-3").status == Status.PENDING
        client.send("exp-3", "approved", topic="approval")
        assert handle.result(timeout=10) == "approved"


def test_send_cli(make_app: Callable[..., Tether], database_url: str, app_name: str) -> None:
    app = expense_app(make_app)
    h = app.start_workflow("expense", workflow_id="exp-4")
    env = {"TETHER_DATABASE_URL": database_url, "TETHER_APP_NAME": app_name}

    def run(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(cli, list(args), env=env)
        assert result.exit_code == code, (result.output, result.exception)
        return result.output

    assert "no workflow 'exp-4x'" in run("send", "exp-4x", "--json", "1", code=1)
    assert "not valid JSON" in run("send", "exp-4", "--json", "{oops", code=1)
    assert "waits for a workflow" in run("send", "later", "--json", "1", "--allow-missing")
    sent = json.loads(
        run("--json", "send", "exp-4", "--topic", "approval", "--json", '{"ok": true}')
    )
    assert sent == {"workflow_id": "exp-4", "topic": "approval", "destination_status": "PENDING"}
    assert h.result(timeout=10) == {"ok": True}
