"""A stand-in Cloud Run service with two ready revisions, and the real client pointed at it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from tether.rollout.cloudrun import CloudRunPlatform
from tether.rollout.testing import FakeCloudRun
from tether.rollout.testing.fixtures import fake_cloud_run  # noqa: F401 - the fixture

FAST = {"retry_delay": 0.01, "poll_interval": 0.01, "operation_timeout": 5.0}


@dataclass
class Service:
    fake: FakeCloudRun
    old: str
    new: str


@pytest.fixture
def cloud(fake_cloud_run: FakeCloudRun) -> Service:  # noqa: F811 - the fixture above
    """``old`` takes 100 %, ``new`` is deployed ready at 0 % (untagged); log cleared."""
    old = fake_cloud_run.state.create_service("agent", "agent-00001-old")
    new = fake_cloud_run.state.deploy("agent", "agent-00002-new")
    fake_cloud_run.state.clear_log()
    return Service(fake_cloud_run, old, new)


@pytest.fixture
def make_platform(cloud: Service) -> Callable[..., CloudRunPlatform]:
    def make(**kwargs: Any) -> CloudRunPlatform:
        options: dict[str, Any] = {
            "project": cloud.fake.project,
            "region": cloud.fake.region,
            "service": "agent",
            "endpoint": cloud.fake.endpoint,
            **FAST,
        }
        return CloudRunPlatform(**(options | kwargs))

    return make


@pytest.fixture
def platform(make_platform: Callable[..., CloudRunPlatform]) -> CloudRunPlatform:
    return make_platform()
