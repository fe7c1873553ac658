"""A LocalPlatform reached from another process through its router's /_platform/ API."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tether.rollout.local import LocalPlatform
from tether.rollout.local_api import LocalPlatformClient
from tether.rollout.platform import Platform, PlatformError, SplitError

from .conftest import ROOT, TARGET


@pytest.fixture
def platform(database_url: str, app_name: str, tmp_path: Path) -> Iterator[LocalPlatform]:
    p = LocalPlatform(database_url=database_url, app_name=app_name, workdir=tmp_path, app_dir=ROOT)
    try:
        yield p
    finally:
        p.close()


def client(spec: dict[str, str], **changes: str) -> LocalPlatformClient:
    options = {k: v for k, v in spec.items() if k != "kind"}
    return LocalPlatformClient(**{**options, **changes})


def test_the_spec_reaches_the_platform_from_anywhere(platform: LocalPlatform) -> None:
    platform.deploy("v1", TARGET, instances=1)
    platform.deploy("v2", TARGET, instances=1)
    spec = platform.spec()
    remote = client(spec)
    assert isinstance(remote, Platform) and remote.spec() == spec

    state = remote.set_traffic({"v1": 60, "v2": 40}, tags={"v2": "canary"})
    assert state.traffic == {"v1": 60, "v2": 40} and state.tags == {"v2": "canary"}
    assert platform.describe().traffic == {"v1": 60, "v2": 40}  # the platform itself moved
    assert remote.describe() == platform.describe()
    assert remote.wake("v2") is True

    with pytest.raises(SplitError, match="sum"):
        remote.set_traffic({"v1": 60, "v2": 60})
    with pytest.raises(SplitError, match="traffic"):
        remote.retire("v2")  # it still serves 40 %
    remote.set_traffic({"v1": 100})
    remote.retire("v2")
    assert platform.instances("v2") == [] and "v2" not in platform.describe().tags

    with pytest.raises(PlatformError, match="token"):
        client(spec, token="guess").describe()


def test_the_api_is_not_proxied_to_revisions_and_refuses_bad_requests(
    platform: LocalPlatform,
) -> None:
    platform.deploy("v1", TARGET, instances=1)
    url = platform.router_url + "/_platform/describe"
    with pytest.raises(urllib.error.HTTPError) as no_token:
        urllib.request.urlopen(url, timeout=10)
    assert no_token.value.code == 403
    remote = client(platform.spec())
    with pytest.raises(PlatformError, match="no operation"):
        remote._call("close")
    with pytest.raises(PlatformError, match="bad arguments"):
        remote._call("retire", nonsense=1)
