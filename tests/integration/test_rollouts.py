"""Whole rollouts on the in-memory platform: promote, roll back on failures of the candidate's
real workflows, pause for approval, drain then retire, in-flight work on either side."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tether.rollout.actions import drain_id
from tether.rollout.errors import RolloutConflictError
from tether.runtime.routing import Routing
from tether.runtime.store.rollouts import RolloutStore

from tether import Tether

from .helpers import wait_until
from .rollout_helpers import FAST_DRAIN, service

NO_SAMPLE = {"min_sample": 0}


def kinds(app: Tether, rid: str) -> list[str]:
    return [e.kind for e in app.rollouts.get(rid).events]


def test_rollout_promotes_then_retires_the_drained_revision(
    make_app: Callable[..., Tether],
) -> None:
    s = service(make_app)
    h = s.v1.rollouts.start(
        s.platform, "svc-2", steps=[10, 50, 100], bake=0.05, gates=NO_SAMPLE, **FAST_DRAIN
    )
    outcome = h.wait(30)
    assert outcome.outcome == "promoted", outcome
    state = s.platform.describe()
    assert state.traffic == {"svc-2": 100}
    assert s.v1.routing() == Routing("v2")
    shifts = [c["split"] for c in s.platform.calls if c["call"] == "set_traffic"]
    assert shifts == [
        {"svc-1": 90, "svc-2": 10},
        {"svc-1": 50, "svc-2": 50},
        {"svc-1": 0, "svc-2": 100},
        {"svc-2": 100},
    ]
    # Nothing of v1 is open: its revision is untagged, and the controller ends.
    drained(s.v1, h.rollout_id)
    assert s.platform.describe().revision("svc-1").tag is None  # type: ignore[union-attr]
    # The drain ran on the promoted version, whose executors stay; the controller has ended.
    assert s.v1.get_workflow(drain_id(h.rollout_id)).version == "v2"
    assert s.v1.get_workflow(h.rollout_id).status == "SUCCESS"
    ks = kinds(s.v1, h.rollout_id)
    for kind in ("prepare", "replay", "shift", "gate", "promote", "retire"):
        assert kind in ks, ks
    replay = next(e for e in h.status().events if e.kind == "replay")
    assert replay.detail["possible"] is False  # this process runs v1, not the candidate


def test_rollout_rolls_back_on_the_candidates_failure_rate(
    make_app: Callable[..., Tether],
) -> None:
    s = service(make_app)
    h = s.v1.rollouts.start(
        s.platform,
        "svc-2",
        steps=[10, 100],
        bake=1.0,
        gates={"min_sample": 4, "max_failure_rate": 0.2, "max_wait": 20},
        **FAST_DRAIN,
    )
    wait_until(lambda: h.status().percent == 10, 20, "the first shift")
    handles = [s.v2.start_workflow("work", i, fail=True) for i in range(5)]
    for w in handles:
        with pytest.raises(Exception, match="cannot handle"):
            w.result(timeout=20)
    outcome = h.wait(30)
    assert outcome.outcome == "rolled_back"
    assert "failure rate of v2 is 100.0%" in (outcome.reason or "")
    assert s.platform.describe().traffic == {"svc-1": 100}
    assert s.v1.routing() == Routing("v1")
    gate = next(e for e in h.status().events if e.kind == "gate")
    assert gate.detail["candidate"]["failed"] == 5


def test_rollout_pauses_for_approval(make_app: Callable[..., Tether]) -> None:
    s = service(make_app)
    h = s.v1.rollouts.start(
        s.platform,
        "svc-2",
        steps=[10, 50, 100],
        bake=0.05,
        gates=NO_SAMPLE,
        approve_at=[50],
        **FAST_DRAIN,
    )
    outcome = h.wait(30)
    assert outcome.outcome == "paused"
    assert outcome.reason == "waiting for approval to shift to 50%"
    assert s.platform.describe().traffic == {"svc-1": 90, "svc-2": 10}
    assert s.v1.routing() == Routing("v1", "v2", 10.0)
    with pytest.raises(RolloutConflictError, match="is paused"):
        s.v1.rollouts.start(s.platform, "svc-2", rollout_id="another", gates=NO_SAMPLE)
    # A second controller that bypasses that check is refused by the service's lock.
    row = RolloutStore(s.v1.store.db, s.v1.app_name).get(h.rollout_id)
    assert row is not None
    rogue = s.v1.start_workflow(
        "tether.rollout", "rogue", "svc", row.plan, row.platform, {}, workflow_id="rogue"
    )
    assert rogue.result(timeout=20)["outcome"] == "refused"
    assert s.platform.describe().traffic == {"svc-1": 90, "svc-2": 10}
    h.approve(by="alice")
    wait_until(lambda: h.status().state != "paused", 20, "the approval to act")
    assert h.wait(30).outcome == "promoted"


def test_old_revision_with_open_work_is_kept_until_it_drains(
    make_app: Callable[..., Tether],
) -> None:
    s = service(make_app)
    old = s.v1.start_workflow("waiter")
    h = s.v1.rollouts.start(s.platform, "svc-2", steps=[100], bake=0, gates=NO_SAMPLE, **FAST_DRAIN)
    assert h.wait(30).outcome == "promoted"
    # Several drain rounds pass: the revision keeps its tag while v1 has open work.
    wait_until(lambda: _drain_rounds(s.v1, h.rollout_id) >= 3, 20, "drain rounds")
    assert s.platform.describe().revision("svc-1").tag == "v-v1"  # type: ignore[union-attr]
    assert not any(c["call"] == "retire" for c in s.platform.calls)
    s.v1.send(old.workflow_id, "done", "go")
    assert old.result(timeout=20) == "done on v1"
    drained(s.v1, h.rollout_id)
    assert [c["revision"] for c in s.platform.calls if c["call"] == "retire"] == ["svc-1"]


def _drain_rounds(app: Tether, rid: str) -> int:
    if app.store.workflows.get(drain_id(rid)) is None:
        return 0
    return sum(1 for op in app.list_steps(drain_id(rid)) if op.name == "tether.rollout.drain")


def drained(app: Tether, rid: str) -> None:
    """Wait for the workflow that drains the rollout's old side to finish."""
    wait_until(lambda: app.store.workflows.get(drain_id(rid)), 20, "the drain hand-off")
    app.retrieve_workflow(drain_id(rid)).result(timeout=20)


def test_rollback_keeps_the_candidates_workflows_on_the_candidate(
    make_app: Callable[..., Tether],
) -> None:
    s = service(make_app)
    h = s.v1.rollouts.start(
        s.platform, "svc-2", steps=[10, 100], bake=30, gates=NO_SAMPLE, **FAST_DRAIN
    )
    wait_until(lambda: h.status().percent == 10, 20, "the first shift")
    inflight = s.v2.start_workflow("waiter")
    wait_until(lambda: s.v2.list_steps(inflight.workflow_id), 20, "the patch marker")
    h.abort(by="bob")
    outcome = h.wait(30)
    assert outcome == type(outcome)("rolled_back", "abort requested")
    assert s.platform.describe().traffic == {"svc-1": 100}
    assert s.platform.describe().revision("svc-2").tag == "canary"  # type: ignore[union-attr]
    plan = next(e for e in h.status().events if e.kind == "rollback-plan")
    assert plan.detail["stay_on_candidate"] == [inflight.workflow_id]
    # It finishes on the candidate's code; then the candidate's revision is retired.
    s.v1.send(inflight.workflow_id, "go", "go")
    assert inflight.result(timeout=20) == "go on v2"
    assert s.v1.get_workflow(inflight.workflow_id).version == "v2"
    drained(s.v1, h.rollout_id)
    assert s.platform.describe().revision("svc-2").tag is None  # type: ignore[union-attr]
    assert s.v1.get_workflow(drain_id(h.rollout_id)).version == "v1"  # current again


def test_a_candidate_that_is_not_ready_fails_before_any_shift(
    make_app: Callable[..., Tether],
) -> None:
    s = service(make_app)
    s.platform.set_ready("svc-2", False)
    h = s.v1.rollouts.start(s.platform, "svc-2", gates=NO_SAMPLE)
    outcome = h.wait(20)
    assert outcome.outcome == "failed"
    assert "not ready" in (outcome.reason or "")
    assert not any(c["call"] == "set_traffic" for c in s.platform.calls)
    # The lock is released: a later rollout of the service may start.
    s.platform.set_ready("svc-2", True)
    again = s.v1.rollouts.start(
        s.platform, "svc-2", rollout_id="retry", steps=[100], bake=0, gates=NO_SAMPLE
    )
    assert again.wait(30).outcome == "promoted"


def test_a_permission_denied_pauses_the_rollout_until_resumed(
    make_app: Callable[..., Tether],
) -> None:
    s = service(make_app)
    s.platform.deny("run.services.update")
    h = s.v1.rollouts.start(
        s.platform, "svc-2", steps=[10, 100], bake=0, gates=NO_SAMPLE, **FAST_DRAIN
    )
    outcome = h.wait(20)
    assert outcome.outcome == "paused"
    assert "'run.services.update' denied" in (outcome.reason or "")
    assert s.platform.describe().traffic == {"svc-1": 100}  # nothing half-applied
    assert s.v1.routing() == Routing("v1")
    s.platform.deny(None)
    h.resume(by="ops")
    wait_until(lambda: h.status().state != "paused", 20, "the resume")
    assert h.wait(30).outcome == "promoted"
    assert "platform-refused" in kinds(s.v1, h.rollout_id)


def test_orphaned_old_work_wakes_its_revision_and_a_failed_wake_is_reported(
    make_app: Callable[..., Tether],
) -> None:
    s = service(make_app)
    old = s.v1.start_workflow("waiter")
    wait_until(lambda: s.v1.list_steps(old.workflow_id), 20, "the waiter to start")
    s.platform.fail_wake("svc-1")
    # The controller runs on the candidate's code here, so it can replay v1's open work.
    h = s.v2.rollouts.start(s.platform, "svc-2", steps=[100], bake=0, gates=NO_SAMPLE, **FAST_DRAIN)
    assert h.wait(30).outcome == "promoted"
    replay = next(e for e in h.status().events if e.kind == "replay")
    assert (replay.detail["possible"], replay.detail["compatible"]) == (True, False)
    assert "diverge on v2" in replay.detail["reason"]
    s.v1.shutdown(grace=0.5)  # no executor of v1 is left for its open workflow
    orphaned = wait_until(
        lambda: [e for e in h.status().events if e.detail.get("orphaned")], 20, "the report"
    )
    assert "waking svc-1 failed" in orphaned[0].detail["reason"]
    s.platform.fail_wake("svc-1", False)
    wait_until(lambda: s.platform.wakes("svc-1") >= 1, 20, "a wake-up of svc-1")
    assert s.platform.describe().revision("svc-1").tag == "v-v1"  # type: ignore[union-attr]
    assert s.v2.get_workflow(old.workflow_id).status == "PENDING"  # never run on v2's code


def test_a_refused_promotion_pauses_and_is_retried_on_resume(
    make_app: Callable[..., Tether],
) -> None:
    s = service(make_app)
    h = s.v1.rollouts.start(s.platform, "svc-2", steps=[100], bake=3, gates=NO_SAMPLE, **FAST_DRAIN)
    wait_until(lambda: h.status().percent == 100, 20, "the 100% stage")
    s.platform.deny("run.services.update")
    outcome = h.wait(20)
    assert outcome.outcome == "paused" and "refused promote" in (outcome.reason or "")
    assert s.v1.routing() == Routing("v1", "v2", 100.0)  # not promoted in tether either
    s.platform.deny(None)
    h.resume()
    wait_until(lambda: h.status().state != "paused", 20, "the resume")
    assert h.wait(20).outcome == "promoted"
    assert s.v1.routing() == Routing("v2")
