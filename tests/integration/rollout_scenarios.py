"""Whole rollouts as scenarios over a ``Service`` on any platform: the in-memory one
(tests/integration/test_rollouts.py) and Cloud Run through the stand-in
(tests/rollout/test_cloudrun_rollouts.py) run the same code, so the controller is held to one
behaviour on both."""

from __future__ import annotations

import pytest
from tether.rollout.actions import drain_id
from tether.rollout.errors import RolloutConflictError
from tether.runtime.routing import Routing
from tether.runtime.store.rollouts import RolloutStore

from tether import Tether

from .helpers import wait_until
from .rollout_helpers import FAST_DRAIN, NEW, OLD, Service

NO_SAMPLE = {"min_sample": 0}


def kinds(app: Tether, rid: str) -> list[str]:
    return [e.kind for e in app.rollouts.get(rid).events]


def tag_of(s: Service, revision: str) -> str | None:
    rev = s.platform.describe().revision(revision)
    assert rev is not None, f"{revision} is gone"
    return rev.tag


def drain_rounds(app: Tether, rid: str) -> int:
    if app.store.workflows.get(drain_id(rid)) is None:
        return 0
    return sum(1 for op in app.list_steps(drain_id(rid)) if op.name == "tether.rollout.drain")


def drained(app: Tether, rid: str) -> None:
    """Wait for the workflow that drains the rollout's old side to finish."""
    wait_until(lambda: app.store.workflows.get(drain_id(rid)), 20, "the drain hand-off")
    app.retrieve_workflow(drain_id(rid)).result(timeout=20)


def promotes_then_retires_the_drained_revision(s: Service) -> None:
    h = s.v1.rollouts.start(
        s.platform, NEW, steps=[10, 50, 100], bake=0.05, gates=NO_SAMPLE, **FAST_DRAIN
    )
    outcome = h.wait(30)
    assert outcome.outcome == "promoted", outcome
    assert s.platform.describe().traffic == {NEW: 100}
    assert s.v1.routing() == Routing("v2")
    assert s.faults.shifts() == [{OLD: 90, NEW: 10}, {OLD: 50, NEW: 50}, {NEW: 100}]
    # Nothing of v1 is open: its revision is untagged, and the controller ends.
    drained(s.v1, h.rollout_id)
    assert tag_of(s, OLD) is None
    assert tag_of(s, NEW) == "canary"
    # The drain ran on the promoted version, whose executors stay; the controller has ended.
    assert s.v1.get_workflow(drain_id(h.rollout_id)).version == "v2"
    assert s.v1.get_workflow(h.rollout_id).status == "SUCCESS"
    ks = kinds(s.v1, h.rollout_id)
    for kind in ("prepare", "replay", "shift", "gate", "promote", "retire"):
        assert kind in ks, ks
    replay = next(e for e in h.status().events if e.kind == "replay")
    assert replay.detail["possible"] is False  # this process runs v1, not the candidate


def rolls_back_on_the_candidates_failure_rate(s: Service) -> None:
    h = s.v1.rollouts.start(
        s.platform,
        NEW,
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
    assert s.platform.describe().traffic == {OLD: 100}
    assert s.v1.routing() == Routing("v1")
    assert s.faults.shifts() == [{OLD: 90, NEW: 10}, {OLD: 100}]
    gate = next(e for e in h.status().events if e.kind == "gate")
    assert gate.detail["candidate"]["failed"] == 5


def pauses_for_approval(s: Service) -> None:
    h = s.v1.rollouts.start(
        s.platform,
        NEW,
        steps=[10, 50, 100],
        bake=0.05,
        gates=NO_SAMPLE,
        approve_at=[50],
        **FAST_DRAIN,
    )
    outcome = h.wait(30)
    assert outcome.outcome == "paused"
    assert outcome.reason == "waiting for approval to shift to 50%"
    assert s.platform.describe().traffic == {OLD: 90, NEW: 10}
    assert s.v1.routing() == Routing("v1", "v2", 10.0)
    with pytest.raises(RolloutConflictError, match="is paused"):
        s.v1.rollouts.start(s.platform, NEW, rollout_id="another", gates=NO_SAMPLE)
    # A second controller that bypasses that check is refused by the service's lock.
    row = RolloutStore(s.v1.store.db, s.v1.app_name).get(h.rollout_id)
    assert row is not None
    rogue = s.v1.start_workflow(
        "tether.rollout", "rogue", "svc", row.plan, row.platform, {}, workflow_id="rogue"
    )
    assert rogue.result(timeout=20)["outcome"] == "refused"
    assert s.platform.describe().traffic == {OLD: 90, NEW: 10}
    h.approve(by="alice")
    wait_until(lambda: h.status().state != "paused", 20, "the approval to act")
    assert h.wait(30).outcome == "promoted"


def keeps_the_old_revision_until_its_work_drains(s: Service) -> None:
    old = s.v1.start_workflow("waiter")
    h = s.v1.rollouts.start(s.platform, NEW, steps=[100], bake=0, gates=NO_SAMPLE, **FAST_DRAIN)
    assert h.wait(30).outcome == "promoted"
    # Several drain rounds pass: the revision keeps its tag while v1 has open work.
    wait_until(lambda: drain_rounds(s.v1, h.rollout_id) >= 3, 20, "drain rounds")
    assert tag_of(s, OLD) == "v-v1"
    assert "retire" not in kinds(s.v1, h.rollout_id)
    s.v1.send(old.workflow_id, "done", "go")
    assert old.result(timeout=20) == "done on v1"
    drained(s.v1, h.rollout_id)
    assert tag_of(s, OLD) is None
    assert kinds(s.v1, h.rollout_id).count("retire") == 1


def rollback_keeps_the_candidates_workflows_on_the_candidate(s: Service) -> None:
    h = s.v1.rollouts.start(
        s.platform, NEW, steps=[10, 100], bake=30, gates=NO_SAMPLE, **FAST_DRAIN
    )
    wait_until(lambda: h.status().percent == 10, 20, "the first shift")
    inflight = s.v2.start_workflow("waiter")
    wait_until(lambda: s.v2.list_steps(inflight.workflow_id), 20, "the patch marker")
    h.abort(by="bob")
    outcome = h.wait(30)
    assert outcome == type(outcome)("rolled_back", "abort requested")
    assert s.platform.describe().traffic == {OLD: 100}
    assert tag_of(s, NEW) == "canary"
    plan = next(e for e in h.status().events if e.kind == "rollback-plan")
    assert plan.detail["stay_on_candidate"] == [inflight.workflow_id]
    # It finishes on the candidate's code; then the candidate's revision is retired.
    s.v1.send(inflight.workflow_id, "go", "go")
    assert inflight.result(timeout=20) == "go on v2"
    assert s.v1.get_workflow(inflight.workflow_id).version == "v2"
    drained(s.v1, h.rollout_id)
    assert tag_of(s, NEW) is None
    assert s.v1.get_workflow(drain_id(h.rollout_id)).version == "v1"  # current again


def an_unready_candidate_fails_before_any_shift(s: Service) -> None:
    s.faults.set_ready(NEW, False)
    h = s.v1.rollouts.start(s.platform, NEW, gates=NO_SAMPLE)
    outcome = h.wait(20)
    assert outcome.outcome == "failed"
    assert "not ready" in (outcome.reason or "")
    assert s.faults.shifts() == []
    # The lock is released: a later rollout of the service may start.
    s.faults.set_ready(NEW, True)
    again = s.v1.rollouts.start(
        s.platform, NEW, rollout_id="retry", steps=[100], bake=0, gates=NO_SAMPLE
    )
    assert again.wait(30).outcome == "promoted"


def a_permission_denied_pauses_the_rollout_until_resumed(s: Service) -> None:
    s.faults.deny("run.services.update")
    h = s.v1.rollouts.start(s.platform, NEW, steps=[10, 100], bake=0, gates=NO_SAMPLE, **FAST_DRAIN)
    outcome = h.wait(20)
    assert outcome.outcome == "paused"
    assert "run.services.update" in (outcome.reason or "")
    refused = next(e for e in h.status().events if e.kind == "platform-refused")
    assert refused.detail["permission"] == "run.services.update"
    assert s.platform.describe().traffic == {OLD: 100}  # nothing half-applied
    assert s.v1.routing() == Routing("v1")
    s.faults.deny(None)
    h.resume(by="ops")
    wait_until(lambda: h.status().state != "paused", 20, "the resume")
    assert h.wait(30).outcome == "promoted"


def orphaned_old_work_wakes_its_revision_and_a_failed_wake_is_reported(s: Service) -> None:
    old = s.v1.start_workflow("waiter")
    wait_until(lambda: s.v1.list_steps(old.workflow_id), 20, "the waiter to start")
    s.faults.fail_wake(OLD)
    # The controller runs on the candidate's code here, so it can replay v1's open work.
    h = s.v2.rollouts.start(s.platform, NEW, steps=[100], bake=0, gates=NO_SAMPLE, **FAST_DRAIN)
    assert h.wait(30).outcome == "promoted"
    replay = next(e for e in h.status().events if e.kind == "replay")
    assert (replay.detail["possible"], replay.detail["compatible"]) == (True, False)
    assert "diverge on v2" in replay.detail["reason"]
    s.v1.shutdown(grace=0.5)  # no executor of v1 is left for its open workflow
    orphaned = wait_until(
        lambda: [e for e in h.status().events if e.detail.get("orphaned")], 20, "the report"
    )
    assert f"waking {OLD} failed" in orphaned[0].detail["reason"]
    s.faults.fail_wake(OLD, False)
    wait_until(lambda: s.faults.wakes(OLD) >= 1, 20, f"a wake-up of {OLD}")
    assert tag_of(s, OLD) == "v-v1"
    rec = s.v2.get_workflow(old.workflow_id)  # still waiting (held or suspended), on v1
    assert rec.status in ("PENDING", "SUSPENDED") and rec.version == "v1"  # never run on v2


def a_refused_promotion_pauses_and_is_retried_on_resume(s: Service) -> None:
    h = s.v1.rollouts.start(
        s.platform, NEW, steps=[10, 100], bake=30, gates=NO_SAMPLE, **FAST_DRAIN
    )
    wait_until(lambda: h.status().percent == 10, 20, "the 10% stage")
    s.faults.deny("run.services.update")
    h.promote(by="ops")  # skip the bake: the candidate is to take all traffic now
    outcome = h.wait(20)
    assert outcome.outcome == "paused" and "refused promote" in (outcome.reason or "")
    assert s.platform.describe().traffic == {OLD: 90, NEW: 10}
    assert s.v1.routing() == Routing("v1", "v2", 10.0)  # not promoted in tether either
    s.faults.deny(None)
    h.resume()
    wait_until(lambda: h.status().state != "paused", 20, "the resume")
    assert h.wait(20).outcome == "promoted"
    assert s.v1.routing() == Routing("v2")
