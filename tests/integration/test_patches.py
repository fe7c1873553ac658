"""Patch gates in live runs: every row of the DESIGN §5 table, sync and async workflows.

Each scenario runs workflows on one app, stops it (its leases are released) and lets an app
with changed code recover them, so that each gate meets a real recorded history.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from tether.runtime.errors import ConfigurationError, NotInWorkflowError
from tether.versioning.replay import Replayer

import tether
from tether import Status, Tether

from .helpers import ops, wait_until

GATE_AT = 2  # positions 0 and 1 hold recv("go")'s deadline and message


def build(
    make_app: Callable[..., Tether],
    calls: Counter[str],
    mode: str,
    *,
    launch: bool = True,
    **settings: Any,
) -> Tether:
    """The workflow at the four stages of a patch's life: none, patch, deprecated, removed
    (each stage its own source, as separate releases would be)."""
    app = make_app(**settings)

    @app.step(name="old")
    def old() -> str:
        calls["old"] += 1
        return "old"

    @app.step(name="new")
    def new() -> str:
        calls["new"] += 1
        return "new"

    def none() -> list[Any]:
        tether.recv("go", timeout=60)
        out = old()
        tether.recv("done", timeout=60)
        return [out]

    def patched() -> list[Any]:
        tether.recv("go", timeout=60)
        gates = [tether.patch("p"), tether.patch("p")]  # memoized: one position at most
        out = new() if gates[0] else old()
        tether.recv("done", timeout=60)
        return [out, *gates]

    def deprecated() -> list[Any]:
        tether.recv("go", timeout=60)
        gates = [tether.deprecate_patch("p")]
        out = new()
        tether.recv("done", timeout=60)
        return [out, *gates]

    def removed() -> list[Any]:
        tether.recv("go", timeout=60)
        out = new()
        tether.recv("done", timeout=60)
        return [out]

    code = {"none": none, "patch": patched, "deprecated": deprecated, "removed": removed}
    app.workflow(name="wf")(code[mode])
    return app.launch() if launch else app


def at_done(app: Tether, wid: str) -> None:
    """Wait until ``wid`` waits for its "done" message (its gate is behind it)."""
    wait_until(lambda: any(n == "recv:done" for _, _, n in ops(app, wid)), what=f"{wid} at done")


def go(app: Tether, *wids: str) -> None:
    for wid in wids:
        app.send(wid, 1, topic="go")
    for wid in wids:
        at_done(app, wid)


def test_patch_table_rows_in_live_runs(make_app: Callable[..., Tether]) -> None:
    calls: Counter[str] = Counter()
    v1 = build(make_app, calls, "none")
    v1.start_workflow("wf", workflow_id="passed")  # will pass the gate's position without it
    v1.start_workflow("wf", workflow_id="early")  # will not get that far on old code
    go(v1, "passed")
    wait_until(lambda: len(ops(v1, "early")) == 1, what="early to wait for go")
    v1.shutdown()

    v2 = build(make_app, calls, "patch")
    v2.start_workflow("wf", workflow_id="new")
    go(v2, "new", "early")  # nothing recorded at the gate: True, and a marker
    wait_until(lambda: len(ops(v2, "passed")) == 4 and calls["old"] == 1, what="recovery")
    v2.shutdown()

    # A later process replays the markers (True, consumed) and the old run (False, not).
    v2b = build(make_app, calls, "patch")
    for wid in ("passed", "early", "new"):
        v2b.send(wid, 1, topic="done")
    results = {w: v2b.retrieve_workflow(w).result(timeout=15) for w in ("passed", "early", "new")}
    assert results == {
        "passed": ["old", False, False],
        "early": ["new", True, True],
        "new": ["new", True, True],
    }
    assert calls == {"old": 1, "new": 2}  # replays ran nothing again
    assert ops(v2b, "passed")[GATE_AT] == (GATE_AT, "step", "old")
    for wid in ("early", "new"):
        assert ops(v2b, wid)[GATE_AT : GATE_AT + 3] == [
            (GATE_AT, "patch", "p"),  # the memoized second call took no position
            (GATE_AT + 1, "step", "new"),
            (GATE_AT + 2, "deadline", "recv:done"),
        ]
    marker = v2b.list_steps("new")[GATE_AT]
    assert (marker.output, marker.error, marker.version) == (None, None, "v1")


def test_deprecate_patch_rows_in_live_runs(make_app: Callable[..., Tether]) -> None:
    calls: Counter[str] = Counter()
    v1 = build(make_app, calls, "none")
    v1.start_workflow("wf", workflow_id="old-path")
    go(v1, "old-path")
    v1.shutdown()
    v2 = build(make_app, calls, "patch")
    v2.start_workflow("wf", workflow_id="marked")
    go(v2, "marked")
    v2.shutdown()

    v3 = build(make_app, calls, "deprecated")
    v3.start_workflow("wf", workflow_id="fresh")
    go(v3, "fresh")  # nothing recorded: True, records nothing, takes no position
    assert ops(v3, "fresh")[GATE_AT] == (GATE_AT, "step", "new")
    for wid in ("marked", "fresh"):
        v3.send(wid, 1, topic="done")
        assert v3.retrieve_workflow(wid).result(timeout=15) == ["new", True]
    # The marker was stepped over; the step after it replayed.
    assert calls == {"old": 1, "new": 2}
    # Another operation there: True but nothing consumed, so the new code meets the old step.
    rec = wait_until(
        lambda: (r := v3.get_workflow("old-path")).status == Status.PARKED and r,
        what="the old-path run to park",
    )
    assert rec.error is not None
    message = rec.error["message"]
    assert "recorded step 'old', the code asked for step 'new'" in message
    assert "nearest patch gate: 'p'" in message
    assert len(ops(v3, "old-path")) == 4  # left intact for a fix


@pytest.mark.parametrize("recorded", ["none", "v2", "v3"])
def test_stacked_patches(make_app: Callable[..., Tether], recorded: str) -> None:
    """if patch("v3") ... elif patch("v2") ... else ...: each history keeps its branch."""

    def release(version: str, code: Callable[[Callable[[str], str]], str]) -> Tether:
        app = make_app(version=version)

        @app.step(name="s")
        def s(which: str) -> str:
            return which

        @app.workflow(name="stacked")
        def stacked() -> str:
            return code(s)

        return app

    def old(s: Callable[[str], str]) -> str:
        return s("old")

    def v2(s: Callable[[str], str]) -> str:
        return s("v2") if tether.patch("v2") else s("old")

    def v4(s: Callable[[str], str]) -> str:
        if tether.patch("v3"):
            return s("v3")
        elif tether.patch("v2"):
            return s("v2")
        return s("old")

    writer = release("v1", {"none": old, "v2": v2, "v3": v4}[recorded]).launch()
    writer.start_workflow("stacked", workflow_id="st").result(timeout=10)
    newest = release("v4", v4).launch()
    res = newest.start_workflow("stacked", workflow_id="st").result(timeout=10)
    assert res == ("old" if recorded == "none" else recorded)
    from tether.versioning.replay import Replayer

    replayed = Replayer(newest).replay("st")
    assert replayed.passed, replayed.summary()
    expected = {"none": {"v3": False, "v2": False}, "v2": {"v3": False, "v2": True}}
    assert replayed.patches_taken == expected.get(recorded, {"v3": True})


def test_async_workflow_patch_and_race(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.step(name="slow")
    async def slow() -> str:
        await asyncio.sleep(0.05)
        return "slow"

    @app.workflow(name="fine")
    async def fine() -> list[Any]:
        first = await slow()
        return [first, tether.patch("p"), tether.patch("p")]

    @app.workflow(name="racy")
    async def racy() -> Any:
        sibling = asyncio.ensure_future(slow())  # position 0, running in another task
        await asyncio.sleep(0)
        try:
            return tether.patch("p")  # where would its marker land? depends on timing
        finally:
            await sibling

    @app.workflow(name="racy_deprecated")
    async def racy_deprecated() -> Any:
        sibling = asyncio.ensure_future(slow())
        await asyncio.sleep(0)
        try:
            return tether.deprecate_patch("p")
        finally:
            await sibling

    app.launch()
    assert app.start_workflow("fine", workflow_id="f").result(timeout=10) == ["slow", True, True]
    assert ops(app, "f") == [(0, "step", "slow"), (1, "patch", "p")]
    message = r"tether\.patch\('p'\) in workflow 'r' was called while operations at positions "
    message += r"\[0\] are still running \(async tasks started and not yet awaited\), so where "
    message += "its marker lands would depend on scheduling: call it before starting them"
    with pytest.raises(ConfigurationError, match=message):
        app.start_workflow("racy", workflow_id="r").result(timeout=10)
    assert ops(app, "r") == [(0, "step", "slow")]  # and no marker landed
    with pytest.raises(ConfigurationError, match=r"tether\.deprecate_patch\('p'\) in workflow"):
        app.start_workflow("racy_deprecated", workflow_id="rd").result(timeout=10)


def test_names_and_places_are_checked(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.step()
    def in_step() -> bool:
        return tether.patch("p")

    @app.workflow()
    def bad_name() -> bool:
        return tether.patch("no spaces allowed")

    @app.workflow()
    def from_step() -> bool:
        return in_step()

    app.launch()
    with pytest.raises(ConfigurationError, match="invalid patch name 'no spaces allowed'"):
        app.start_workflow(bad_name).result(timeout=10)
    with pytest.raises(NotInWorkflowError, match="called inside a step"):
        app.start_workflow(from_step).result(timeout=10)


def test_replay_stops_at_a_patch_gate_past_the_end_of_history(
    make_app: Callable[..., Tether],
) -> None:
    """A replay of new code over a run still in flight stops where history ends: at a patch
    gate there (which a live run would record), and says so."""
    inside, release = threading.Event(), threading.Event()

    def build_gated(version: str, gated: bool) -> Tether:
        app = make_app(version=version)

        @app.step(name="a")
        def a() -> str:
            return "a"

        @app.step(name="b")
        def b() -> str:
            inside.set()
            release.wait(30)
            return "b"

        @app.workflow(name="w")
        def w() -> list[str]:
            out = [a()]
            if gated and tether.patch("p"):
                out.append("new")
            out.append(b())
            return out

        return app

    live = build_gated("v1", gated=False).launch()
    h = live.start_workflow("w", workflow_id="x")
    assert inside.wait(10)  # history: `a` only
    try:
        res = Replayer(build_gated("v2", gated=True)).replay("x")
    finally:
        release.set()
    assert h.result(timeout=10) == ["a", "b"]
    assert (res.outcome, res.stopped_at) == ("passed", 1)
    assert res.stopped_because == "the code asks for patch 'p' next"
