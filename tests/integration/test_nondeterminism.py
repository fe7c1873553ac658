"""Code that no longer matches a workflow's history parks it; fixed code resumes it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from tether.runtime.errors import WorkflowParkedError
from tether.runtime.serialization import error_from_json

import tether
from tether import Status, Tether

from .helpers import wait_until


def build(make_app: Callable[..., Tether], calls: Counter[str], *, changed: bool) -> Tether:
    """The same app name and version; ``changed`` inserts a step the history never saw."""
    app = make_app()

    @app.step(name="charge")
    def charge() -> str:
        calls["charge"] += 1
        return "charged"

    @app.step(name="notify")
    def notify() -> None:
        calls["notify"] += 1

    if changed:

        @app.workflow(name="order")
        def order_changed() -> list[object]:
            receipt = charge()
            notify()
            return [receipt, tether.recv("go", timeout=30)]

    else:

        @app.workflow(name="order")
        def order() -> list[object]:
            receipt = charge()
            return [receipt, tether.recv("go", timeout=30)]

    return app.launch()


def test_divergence_parks_then_fixed_code_resumes(make_app: Callable[..., Tether]) -> None:
    calls: Counter[str] = Counter()
    original = build(make_app, calls, changed=False)
    h = original.start_workflow("order", workflow_id="o")
    wait_until(lambda: len(original.list_steps("o")) == 2, what="charge and recv deadline")
    original.shutdown()  # releases the lease: the next executor recovers the workflow

    changed = build(make_app, calls, changed=True)
    rec = wait_until(
        lambda: (r := changed.get_workflow("o")).status == Status.PARKED and r, what="parking"
    )
    err = error_from_json(rec.error or {})
    assert type(err).__name__ == "NondeterminismError"
    assert (err.workflow_id, err.position) == ("o", 1)  # type: ignore[attr-defined]
    assert err.recorded == "deadline 'recv:go'"  # type: ignore[attr-defined]
    assert err.requested == "step 'notify'"  # type: ignore[attr-defined]
    for part in ("'o'", "position 1", "recorded deadline 'recv:go'", "asked for step 'notify'"):
        assert part in rec.error["message"]  # type: ignore[index]
    with pytest.raises(WorkflowParkedError, match="parked"):
        h.result(timeout=1)
    assert calls == {"charge": 1}  # replayed from history, nothing ran
    assert len(changed.list_steps("o")) == 2  # history left intact
    changed.shutdown()

    fixed = build(make_app, calls, changed=False)
    fixed.send("o", "go", topic="go")
    assert fixed.resume("o").result(timeout=10) == ["charged", "go"]
    assert calls == {"charge": 1}


def test_divergence_swallowed_by_workflow_code_still_parks(make_app: Callable[..., Tether]) -> None:
    """Code that catches every error, the divergence included, and returns normally: the
    run must still end PARKED (the engine overrides the outcome), never SUCCESS."""
    calls: Counter[str] = Counter()
    crash = {"at_end": True}
    caught: list[str] = []

    def build_swallowing(changed: bool) -> Tether:
        app = make_app()

        @app.step(name="a")
        def a() -> None:
            calls["a"] += 1

        @app.step(name="b")
        def b() -> None:
            calls["b"] += 1

        @app.workflow(name="w")
        def w() -> str:
            for op in ((b if changed else a), a):
                try:
                    op()
                except Exception as exc:  # noqa: BLE001 - user code that catches too much
                    caught.append(type(exc).__name__)
            if crash["at_end"]:
                raise RuntimeError("the first run fails after its steps")
            return "done"

        return app.launch()

    first = build_swallowing(changed=False)
    with pytest.raises(RuntimeError):
        first.start_workflow("w", workflow_id="s").result(timeout=10)
    first.shutdown()
    crash["at_end"] = False
    changed = build_swallowing(changed=True)
    changed.resume("s")
    rec = wait_until(
        lambda: (r := changed.get_workflow("s")).status not in Status.RUNNABLE and r, what="an end"
    )
    # The workflow code swallowed both raises and returned "done": only the override parks it.
    assert caught == ["NondeterminismError", "NondeterminismError"]
    assert rec.status == Status.PARKED and rec.output is None
    assert "position 0" in rec.error["message"]  # type: ignore[index]
    assert calls == {"a": 2}  # the first run's steps only: nothing ran after the divergence
    assert len(changed.list_steps("s")) == 2  # no write at a shifted position
