"""Direct calls write their row behind the body: one statement when no step runs, and the
row is durable before the first step's side effect."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tether import Status, Tether


def test_stepless_calls_store_complete_rows(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.workflow(name="echo")
    def echo(x: int, *, tag: str) -> dict[str, object]:
        return {"x": x, "tag": tag}

    @app.workflow(name="boom")
    def boom() -> None:
        raise KeyError("no such order")

    app.launch()
    assert echo(3, tag="a") == {"x": 3, "tag": "a"}
    with pytest.raises(KeyError, match="no such order"):
        boom()
    rows = {r.name: r for r in app.list_workflows()}
    ok, failed = rows["echo"], rows["boom"]
    assert (ok.status, ok.output, ok.inputs) == (
        Status.SUCCESS,
        {"x": 3, "tag": "a"},
        {"args": [3], "kwargs": {"tag": "a"}},
    )
    assert ok.version == "v1" and ok.executor_id == app.executor_id
    assert ok.created_at <= ok.completed_at  # type: ignore[operator]
    assert failed.status == Status.ERROR and failed.error["type"] == "builtins:KeyError"  # type: ignore[index]


def test_first_step_runs_only_once_the_row_is_durable(make_app: Callable[..., Tether]) -> None:
    app = make_app()
    seen: list[str | None] = []

    @app.step(name="look")
    def look() -> None:
        # Another connection sees the workflow row while the first step runs.
        rows = app.list_workflows(name="w")
        seen.append(rows[0].status if rows else None)

    @app.workflow(name="w")
    def w() -> str:
        look()
        return "ok"

    app.launch()
    assert w() == "ok"
    assert seen == [Status.PENDING]
