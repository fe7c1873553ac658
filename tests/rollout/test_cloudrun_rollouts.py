"""Whole rollouts through ``CloudRunPlatform`` and the real client against the Admin API
stand-in: the scenarios of tests/integration/test_rollouts.py, plus what only Cloud Run does
to a rollout (503s and etag races mid-rollout, the 1,000-revision cap)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tether.rollout.testing import FakeCloudRun
from tether.rollout.testing.fixtures import fake_cloud_run  # noqa: F401 - the fixture
from tether.runtime.routing import Routing

from tests.integration import rollout_scenarios as scenario
from tests.integration.helpers import wait_until
from tests.integration.rollout_helpers import (
    FAST_DRAIN,
    NEW,
    OLD,
    Service,
    changes,
    cloud_service,
)
from tether import Tether

NO_SAMPLE = scenario.NO_SAMPLE


@pytest.fixture
def s(make_app: Callable[..., Tether], fake_cloud_run: FakeCloudRun) -> Service:  # noqa: F811
    return cloud_service(make_app, fake_cloud_run)


def test_a_rollout_promotes_then_retires_the_drained_revision(s: Service) -> None:
    scenario.promotes_then_retires_the_drained_revision(s)


def test_a_rollout_rolls_back_on_an_injected_failure_rate(s: Service) -> None:
    scenario.rolls_back_on_the_candidates_failure_rate(s)


def test_a_rollout_pauses_for_approval(s: Service) -> None:
    scenario.pauses_for_approval(s)


def test_a_403_pauses_the_rollout_with_the_permission_named(s: Service) -> None:
    scenario.a_permission_denied_pauses_the_rollout_until_resumed(s)


def test_a_403_on_promotion_pauses_and_is_retried_on_resume(s: Service) -> None:
    scenario.a_refused_promotion_pauses_and_is_retried_on_resume(s)


def test_the_old_revision_is_kept_until_its_work_drains_then_retired(s: Service) -> None:
    scenario.keeps_the_old_revision_until_its_work_drains(s)


def test_rollback_keeps_the_candidates_workflows_on_its_revision(s: Service) -> None:
    scenario.rollback_keeps_the_candidates_workflows_on_the_candidate(s)


def test_orphaned_work_wakes_its_revision_through_its_tag_url(s: Service) -> None:
    scenario.orphaned_old_work_wakes_its_revision_and_a_failed_wake_is_reported(s)


def test_503s_and_etag_races_during_a_rollout_are_absorbed_once(
    s: Service,
    fake_cloud_run: FakeCloudRun,  # noqa: F811
) -> None:
    state = fake_cloud_run.state
    # Each write is refused once by a transient 503 and once lost to another writer, and one
    # is applied but its answer lost: every step re-reads, re-plans and writes at most once.
    state.fail_next("UpdateService", 503, count=2)
    state.race_next_update()
    state.fail_next("GetService", 503)
    h = s.v1.rollouts.start(
        s.platform, NEW, steps=[10, 50, 100], bake=0.05, gates=NO_SAMPLE, **FAST_DRAIN
    )
    assert h.wait(30).outcome == "promoted"
    assert s.platform.describe().traffic == {NEW: 100}
    assert s.v1.routing() == Routing("v2")
    assert s.faults.shifts() == [{OLD: 90, NEW: 10}, {OLD: 50, NEW: 50}, {NEW: 100}]
    assert "platform-refused" not in scenario.kinds(s.v1, h.rollout_id)


def test_a_lost_answer_is_not_applied_twice(
    s: Service,
    fake_cloud_run: FakeCloudRun,  # noqa: F811
) -> None:
    state = fake_cloud_run.state
    state.fail_next("UpdateService", 503, apply=True)  # done, but the answer is a 503
    h = s.v1.rollouts.start(s.platform, NEW, steps=[10, 100], bake=0.05, gates=NO_SAMPLE)
    assert h.wait(30).outcome == "promoted"
    # The retry re-read the service, found the 10 % split in place and wrote nothing more.
    writes = [changes([_split(r.body)]) for r in state.calls("UpdateService")]
    assert writes.count([{OLD: 90, NEW: 10}]) == 1, writes


def _split(body: dict[str, Any] | None) -> dict[str, int]:
    return {
        str(t.get("revision")): int(t.get("percent", 0)) for t in (body or {}).get("traffic", [])
    }


def test_a_revision_with_open_work_survives_the_revision_cap(
    make_app: Callable[..., Tether],
    fake_cloud_run: FakeCloudRun,  # noqa: F811
) -> None:
    s = cloud_service(make_app, fake_cloud_run)
    state = fake_cloud_run.state
    for _ in range(995):  # the service is 3 revisions short of Cloud Run's cap of 1,000
        state.deploy("svc")
    old = s.v1.start_workflow("waiter")
    h = s.v1.rollouts.start(s.platform, NEW, steps=[100], bake=0, gates=NO_SAMPLE, **FAST_DRAIN)
    assert h.wait(60).outcome == "promoted"
    wait_until(lambda: scenario.drain_rounds(s.v1, h.rollout_id) >= 2, 30, "drain rounds")
    # Deploys push the service past the cap: Cloud Run deletes the oldest revisions outside
    # the traffic block, never the drained one with open work, which stays tagged there.
    for _ in range(10):
        state.deploy("svc")
    assert len(state.auto_deleted) >= 7 and OLD not in state.auto_deleted
    rounds = scenario.drain_rounds(s.v1, h.rollout_id)
    wait_until(lambda: scenario.drain_rounds(s.v1, h.rollout_id) >= rounds + 2, 30, "rounds")
    assert scenario.tag_of(s, OLD) == "v-v1"
    ks = scenario.kinds(s.v1, h.rollout_id)
    assert "retire" not in ks and "delete" not in ks, ks
    s.v1.send(old.workflow_id, "done", "go")
    assert old.result(timeout=20) == "done on v1"
    scenario.drained(s.v1, h.rollout_id)
    # Drained near the cap, it is deleted rather than only untagged, to keep room.
    assert OLD not in {r.name for r in s.platform.describe().revisions}
    assert "delete" in scenario.kinds(s.v1, h.rollout_id)
