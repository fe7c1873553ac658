"""Child workflows: recorded as operations with their id, reused when the parent re-executes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from tether import Status, Tether

from .helpers import ops


def test_children_are_recorded_and_reused(make_app: Callable[..., Tether]) -> None:
    app = make_app()
    runs = Counter()
    crash = {"after_children": True}

    @app.workflow(name="child")
    def child(x: int) -> int:
        runs["child"] += 1
        return 10 * x

    @app.workflow(name="background")
    def background(x: int) -> int:
        runs["background"] += 1
        return x + 1

    @app.workflow(name="parent")
    def parent(x: int) -> list[object]:
        a = child(x)
        handle = app.start_workflow(background, x)
        b = handle.result()
        if crash["after_children"]:
            raise RuntimeError("parent crashed after its children")
        return [a, b, handle.workflow_id]

    app.launch()
    with pytest.raises(RuntimeError):
        app.start_workflow(parent, 2, workflow_id="p").result(timeout=10)
    assert ops(app, "p") == [(0, "child", "child"), (1, "child", "background")]
    assert [s.child_id for s in app.list_steps("p")] == ["p-0", "p-1"]
    for cid in ("p-0", "p-1"):
        rec = app.get_workflow(cid)
        assert (rec.parent_id, rec.status) == ("p", Status.SUCCESS)

    crash["after_children"] = False
    assert app.resume("p").result(timeout=10) == [20, 3, "p-1"]
    assert runs == {"child": 1, "background": 1}
    assert len(app.list_workflows()) == 3


def test_async_parent_awaits_async_child(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.workflow(name="square")
    async def square(x: int) -> int:
        return x * x

    @app.workflow(name="sum_squares")
    async def sum_squares(xs: list[int]) -> int:
        total = 0
        for x in xs:
            total += await square(x)
        return total

    app.launch()
    assert app.start_workflow(sum_squares, [1, 2, 3], workflow_id="s").result(timeout=10) == 14
    steps = app.list_steps("s")
    assert [(s.kind, s.name, s.child_id) for s in steps] == [
        ("child", "square", f"s-{i}") for i in range(3)
    ]
    assert app.get_workflow("s-2").output == 9
