"""Operations, races, permissions and transient errors, injected in the stand-in."""

from __future__ import annotations

import pytest
from google.cloud import run_v2
from tether.rollout.cloudrun import CloudRunPlatform, OperationTimeoutError
from tether.rollout.platform import PlatformError, PlatformPermissionError

from .conftest import Service


def test_slow_operation_is_waited_for(cloud: Service, platform: CloudRunPlatform) -> None:
    cloud.fake.state.behaviour.pending_polls = 3
    state = platform.set_traffic({cloud.old: 50, cloud.new: 50})
    assert len(cloud.fake.state.calls("GetOperation")) == 4
    assert state.traffic == {cloud.old: 50, cloud.new: 50}
    assert state.extra["observed_generation"] == str(state.generation)


def test_operation_that_never_finishes_times_out_clearly(
    cloud: Service, make_platform: object
) -> None:
    cloud.fake.state.behaviour.pending_polls = -1
    platform = make_platform(operation_timeout=0.3)  # type: ignore[operator]
    with pytest.raises(OperationTimeoutError, match="did not finish .* within 0.3 s"):
        platform.set_traffic({cloud.new: 100})


def test_failed_operation_raises_and_leaves_routing(
    cloud: Service, platform: CloudRunPlatform
) -> None:
    cloud.fake.state.fail_next_operation(9, "revision agent-00002-new failed health checks")
    with pytest.raises(PlatformError, match="failed health checks"):
        platform.set_traffic({cloud.new: 100})
    assert len(cloud.fake.state.calls("UpdateService")) == 1
    # Rolling back to where routing stayed is a success, with the failure still reported.
    state = platform.set_traffic({cloud.old: 100})
    assert state.traffic == {cloud.old: 100}
    assert "failed health checks" in state.extra["condition"]
    assert len(cloud.fake.state.calls("UpdateService")) == 1


def test_etag_race_is_resolved_by_replanning(cloud: Service, platform: CloudRunPlatform) -> None:
    other = cloud.fake.state.deploy("agent", "agent-00003-oth")
    cloud.fake.state.clear_log()

    def concurrent_tag(svc: run_v2.Service) -> None:
        svc.traffic.append(run_v2.TrafficTarget(type_=2, revision=other, tag="theirs"))

    cloud.fake.state.race_next_update(concurrent_tag)
    state = platform.set_traffic({cloud.old: 90, cloud.new: 10})
    patches = cloud.fake.state.calls("UpdateService")
    assert len(patches) == 2
    assert patches[0].body["etag"] != patches[1].body["etag"]  # type: ignore[index]
    assert state.traffic == {cloud.old: 90, cloud.new: 10}
    assert state.tags == {other: "theirs"}  # the other writer's tag survived the re-plan


def test_endless_conflicts_give_up_after_bounded_attempts(
    cloud: Service, make_platform: object
) -> None:
    platform = make_platform(attempts=3)  # type: ignore[operator]
    for _ in range(3):
        cloud.fake.state.race_next_update()
    with pytest.raises(PlatformError, match="etag conflict"):
        platform.set_traffic({cloud.new: 100})
    assert len(cloud.fake.state.calls("UpdateService")) == 3


@pytest.mark.parametrize(
    "permission,action",
    [
        ("run.services.update", lambda p, c: p.set_traffic({c.new: 100})),
        ("run.services.get", lambda p, c: p.describe()),
        ("run.revisions.list", lambda p, c: p.describe()),
        ("run.revisions.delete", lambda p, c: p.retire(c.old, delete=True)),
    ],
)
def test_permission_denied_names_the_permission(
    cloud: Service, platform: CloudRunPlatform, permission: str, action: object
) -> None:
    if permission == "run.revisions.delete":
        platform.set_traffic({cloud.new: 100})
        cloud.fake.state.deploy("agent", "agent-00003-lat")
    cloud.fake.state.deny(permission)
    with pytest.raises(PlatformPermissionError, match=permission) as caught:
        action(platform, cloud)  # type: ignore[operator]
    assert caught.value.permission == permission


def test_lost_response_after_a_503_is_not_applied_twice(
    cloud: Service, platform: CloudRunPlatform
) -> None:
    cloud.fake.state.fail_next("UpdateService", 503, apply=True)
    cloud.fake.state.behaviour.pending_polls = 2  # still reconciling when re-read
    state = platform.set_traffic({cloud.old: 80, cloud.new: 20})
    assert len(cloud.fake.state.calls("UpdateService")) == 1
    assert state.traffic == {cloud.old: 80, cloud.new: 20}
    assert state.extra["reconciling"] == "false"  # waited until the change settled


@pytest.mark.parametrize("status", [503, 429])
def test_refused_write_is_retried_after_back_off(
    cloud: Service, platform: CloudRunPlatform, status: int
) -> None:
    cloud.fake.state.fail_next("UpdateService", status)
    state = platform.set_traffic({cloud.new: 100})
    assert len(cloud.fake.state.calls("UpdateService")) == 2
    assert state.traffic == {cloud.new: 100}


def test_transient_read_errors_are_retried(cloud: Service, platform: CloudRunPlatform) -> None:
    cloud.fake.state.fail_next("GetService", 503, count=2)
    cloud.fake.state.fail_next("ListRevisions", 429)
    assert platform.describe().traffic == {cloud.old: 100}
    assert len(cloud.fake.state.calls("GetService")) == 3
