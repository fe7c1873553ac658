"""The patch lifecycle across four releases, and the report that says which step is safe.

v1 has no gate, v2 adds ``patch("p")``, v3 deprecates it, v4 removes it. Workflows start
under each release and are recovered by the next (``compatible_with`` the previous one).
Deprecating or removing too early is caught, by replay and by the report, before any live
workflow meets the new code.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import delete
from tether.runtime.store import schema
from tether.versioning.patch_report import KEEP, SAFE_TO_DEPRECATE, SAFE_TO_REMOVE
from tether.versioning.replay import Replayer

from tether import Tether

from .helpers import ops, wait_until
from .test_patches import GATE_AT, build, go


def finish(app: Tether, *wids: str) -> dict[str, list[object]]:
    for wid in wids:
        app.send(wid, 1, topic="done")
    return {wid: app.retrieve_workflow(wid).result(timeout=15) for wid in wids}


def held_by(app: Tether, *wids: str) -> None:
    """Wait until ``app``'s executor has recovered and is running these workflows."""
    wait_until(lambda: set(wids) <= set(app.engine.running_ids()), what=f"recovery of {wids}")


def test_three_releases(make_app: Callable[..., Tether]) -> None:
    calls: Counter[str] = Counter()
    v1 = build(make_app, calls, "none", version="v1")
    v1.start_workflow("wf", workflow_id="a1")  # will pass the gate's place on v1 code
    v1.start_workflow("wf", workflow_id="a2")  # will reach it on v2 code
    go(v1, "a1")
    wait_until(lambda: len(ops(v1, "a2")) == 1, what="a2 to wait for go")
    v1.shutdown()

    # v2 adds the gate and may run v1's workflows.
    v2 = build(make_app, calls, "patch", version="v2", compatible_with=["v1"])
    held_by(v2, "a1", "a2")
    v2.start_workflow("wf", workflow_id="b1")
    v2.start_workflow("wf", workflow_id="b2")
    go(v2, "b1")
    p = v2.patch_report().get("p")
    assert (p.in_code, p.workflows, p.declared_by) == ("patch", ["wf"], ["v2"])
    assert (p.open_old_path, p.open_new_path, p.open_unknown, p.open_at_risk) == (1, 1, 0, 0)
    assert (p.markers, p.open_markers, p.verdict, p.old_path_ids) == (1, 1, KEEP, ["a1"])

    # Deprecating now would break a1: replay and the report of the v3 code both say so.
    v3_code = build(make_app, calls, "deprecated", version="v3", launch=False)
    early = Replayer(v3_code).replay("a1")
    assert early.outcome == "diverged" and early.divergence is not None
    assert (early.divergence.position, early.divergence.requested) == (GATE_AT, "step 'new'")
    assert early.patches_taken == {"p": False}
    early_report = v3_code.patch_report()
    too_early = early_report.get("p")
    assert too_early.verdict == KEEP and too_early.open_old_path == 1
    assert too_early.problem and too_early.problem.startswith("deprecated too early")
    assert too_early.action == "restore the gate"
    assert early_report.problems == [f"p: {too_early.problem}"]  # `tether patches --check`

    go(v2, "a2")  # nothing recorded at the gate: a2 takes the new path
    assert finish(v2, "a1", "a2") == {"a1": ["old", False, False], "a2": ["new", True, True]}
    p = v2.patch_report().get("p")
    assert (p.open_old_path, p.markers, p.open_markers) == (0, 2, 1)
    assert p.verdict == SAFE_TO_DEPRECATE and "deprecate_patch" in p.next_step
    v2.shutdown()

    # v3 deprecates the gate and recovers v2's workflows.
    v3 = build(make_app, calls, "deprecated", version="v3", compatible_with=["v2"])
    held_by(v3, "b1", "b2")
    v3.start_workflow("wf", workflow_id="c1")
    v3.start_workflow("wf", workflow_id="c2")
    go(v3, "b2", "c1")
    p = v3.patch_report().get("p")
    assert (p.in_code, p.open_old_path, p.markers, p.open_markers) == ("deprecate_patch", 0, 2, 1)
    assert p.verdict == SAFE_TO_DEPRECATE and p.problem is None  # but not safe to remove

    # Removing now would break b1 (it carries the marker); histories without it are fine.
    v4_code = build(make_app, calls, "removed", version="v4", launch=False)
    assert Replayer(v4_code).replay("b1").outcome == "diverged"
    assert Replayer(v4_code).replay("c1").passed
    gone = v4_code.patch_report().get("p")
    assert gone.in_code is None and gone.verdict == SAFE_TO_DEPRECATE
    assert gone.problem and gone.problem.startswith("removed too early")

    assert finish(v3, "b1", "b2", "c1") == {
        "b1": ["new", True],  # its marker was stepped over
        "b2": ["new", True],  # v2 workflow reaching the gate on v3: no marker
        "c1": ["new", True],
    }
    assert [o for o in ops(v3, "c1") if o[1] == "patch"] == []
    # Histories carrying the marker leave retention: nothing needs the gate any more.
    with v3.store.db.write() as conn:
        for table in (schema.operations, schema.workflows):
            conn.execute(
                delete(table).where(
                    table.c.app_name == v3.app_name, table.c.workflow_id.in_(["a2", "b1"])
                )
            )
    p = v3.patch_report().get("p")
    assert (p.markers, p.verdict) == (0, SAFE_TO_REMOVE)
    v3.shutdown()

    # v4 removes it and recovers v3's last workflow.
    v4 = build(make_app, calls, "removed", version="v4", compatible_with=["v3"])
    held_by(v4, "c2")
    go(v4, "c2")
    assert finish(v4, "c2") == {"c2": ["new"]}
    p = v4.patch_report().get("p")
    assert (p.in_code, p.declared_by, p.verdict) == (None, ["v2", "v3"], SAFE_TO_REMOVE)
    assert calls == {"old": 1, "new": 5}  # every step ran once, replays ran none


def test_live_executors_without_the_gate_keep_it(make_app: Callable[..., Tether]) -> None:
    """A workflow not yet at the gate may still take the old path on a pre-patch executor."""
    calls: Counter[str] = Counter()
    v1 = build(make_app, calls, "none", version="v1")
    v1.start_workflow("wf", workflow_id="w")
    wait_until(lambda: len(ops(v1, "w")) == 1, what="w to wait for go")
    v2 = build(make_app, calls, "patch", version="v2", compatible_with=["v1"])
    p = v2.patch_report().get("p")
    assert (p.open_at_risk, p.open_old_path, p.verdict) == (1, 0, KEEP)
    assert "may still take it" in p.next_step
    v1.shutdown()
    p = v2.patch_report().get("p")
    assert (p.open_at_risk, p.verdict) == (0, SAFE_TO_REMOVE)  # nothing recorded anywhere


def test_launch_warns_when_open_histories_carry_a_removed_gates_marker(
    make_app: Callable[..., Tether], caplog: pytest.LogCaptureFixture
) -> None:
    calls: Counter[str] = Counter()
    v2 = build(make_app, calls, "patch", version="v2")
    v2.start_workflow("wf", workflow_id="m")
    go(v2, "m")
    wait_until(lambda: any(n == "p" for _, k, n in ops(v2, "m") if k == "patch"), what="marker")
    with caplog.at_level(logging.WARNING, logger="tether"):
        build(make_app, calls, "deprecated", version="v3")
    assert not [r for r in caplog.records if "is gone from this code" in r.getMessage()]
    with caplog.at_level(logging.WARNING, logger="tether"):
        build(make_app, calls, "removed", version="v4")
    (warning,) = [r.getMessage() for r in caplog.records if "is gone" in r.getMessage()]
    assert "patch 'p'" in warning and "1 open workflow(s)" in warning and "(m)" in warning
    assert 'tether.deprecate_patch("p")' in warning
