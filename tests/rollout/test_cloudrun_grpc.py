"""The same platform over gRPC: the stand-in's gRPC front end shares the REST one's state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tether.rollout.cloudrun import CloudRunPlatform
from tether.rollout.platform import PlatformPermissionError
from tether.rollout.testing import FakeCloudRun

from .conftest import FAST


@pytest.fixture
def grpc_fake() -> Iterator[FakeCloudRun]:
    with FakeCloudRun(grpc=True) as fake:
        yield fake


def test_grpc_transport_reads_splits_races_and_names_permissions(grpc_fake: FakeCloudRun) -> None:
    old = grpc_fake.state.create_service("agent", "agent-00001-old")
    new = grpc_fake.state.deploy("agent", "agent-00002-new")
    platform = CloudRunPlatform(
        project=grpc_fake.project, region=grpc_fake.region, service="agent",
        endpoint=grpc_fake.grpc_endpoint, transport="grpc", **FAST,
    )  # fmt: skip
    assert platform.describe().traffic == {old: 100}
    grpc_fake.state.race_next_update()
    grpc_fake.state.behaviour.pending_polls = 2
    state = platform.set_traffic({old: 90, new: 10}, tags={new: "candidate"})
    assert state.traffic == {old: 90, new: 10}
    assert state.tags == {new: "candidate"}
    assert {r.method for r in grpc_fake.state.requests} == {"GRPC"}
    assert len(grpc_fake.state.calls("UpdateService")) == 2
    grpc_fake.state.deny("run.services.update")
    with pytest.raises(PlatformPermissionError) as caught:
        platform.set_traffic({new: 100})
    assert caught.value.permission == "run.services.update"
