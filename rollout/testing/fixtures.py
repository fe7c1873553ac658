"""pytest fixtures for the stand-in: ``pytest_plugins = ["tether.rollout.testing.fixtures"]``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import FakeCloudRun


@pytest.fixture
def fake_cloud_run() -> Iterator[FakeCloudRun]:
    """A running stand-in of the Admin API v2; add a service with ``state.create_service``."""
    with FakeCloudRun() as fake:
        yield fake
