"""LocalPlatform with real ``tether serve`` processes: split, tags, kill, minimums, retire."""

from __future__ import annotations

import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from tether.rollout.local import LocalPlatform
from tether.rollout.platform import Platform, SplitError
from tether.rollout.router import REVISION_HEADER

from ..integration.helpers import wait_until
from .conftest import ROOT, TARGET, call


@pytest.fixture
def platform(database_url: str, app_name: str, tmp_path: Path) -> Iterator[LocalPlatform]:
    p = LocalPlatform(database_url=database_url, app_name=app_name, workdir=tmp_path, app_dir=ROOT)
    try:
        yield p
    finally:
        p.close()


def served_by(url: str, host: str | None = None) -> str:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return str(resp.headers[REVISION_HEADER])


def test_router_splits_by_percent_and_tag_urls_reach_their_revision(
    platform: LocalPlatform,
) -> None:
    assert isinstance(platform, Platform)
    platform.deploy("v1", TARGET, instances=1)
    platform.deploy("v2", TARGET, instances=1)
    state = platform.set_traffic({"v1": 70, "v2": 30}, tags={"v2": "canary"})
    assert state.traffic == {"v1": 70, "v2": 30} and state.tags == {"v2": "canary"}
    tag_url = state.revision("v2").tag_url  # type: ignore[union-attr]
    assert tag_url is not None

    counts = Counter(served_by(platform.router_url + "/healthz") for _ in range(300))
    # 30 % of 300 is 90 (standard deviation about 8): 60..120 fails once in ten thousand runs.
    assert 60 <= counts["v2"] <= 120 and counts["v1"] + counts["v2"] == 300, counts
    assert {served_by(tag_url + "/healthz") for _ in range(20)} == {"v2"}
    by_host = {served_by(platform.router_url + "/healthz", "canary---router") for _ in range(20)}
    assert by_host == {"v2"}

    # A workflow started through the router is tethered to the revision that served it.
    status, started = call("POST", tag_url + "/workflows/echo", {"args": ["a"]})
    assert status == 200 and started["version"] == "v2"

    # A tag URL reaches its revision even with no instance left: one is started for it.
    [killed] = platform.kill("v2")
    assert platform.instances("v2") == []
    assert served_by(tag_url + "/healthz") == "v2"
    [(restarted, healthy)] = [(i["executor_id"], i["healthy"]) for i in platform.instances("v2")]
    assert restarted != killed and healthy


def test_kill_minimum_instances_and_retire(platform: LocalPlatform) -> None:
    state = platform.deploy("v1", TARGET, instances=2)
    [v1] = state.revisions
    assert (v1.version, v1.ready, v1.percent) == ("v1", True, 100)  # the first takes it all
    first = {i["executor_id"] for i in platform.instances("v1")}

    [killed] = platform.kill("v1", signal="KILL")
    assert killed in first and len(platform.instances("v1")) == 1  # no minimum: it stays dead
    assert platform.describe().revision("v1").ready  # type: ignore[union-attr]

    platform.set_scaling(min_instances=2)  # v1 has all the traffic, so its share is 2
    wait_until(
        lambda: sum(i["healthy"] for i in platform.instances("v1")) == 2, 30, "a replacement"
    )
    assert killed not in {i["executor_id"] for i in platform.instances("v1")}
    platform.set_scaling(min_instances=0)

    platform.deploy("v2", TARGET, instances=1)
    assert platform.describe().traffic == {"v1": 100}  # a new revision starts at 0 %
    with pytest.raises(SplitError, match="has 100 % of the traffic"):
        platform.retire("v1")
    platform.set_traffic({"v2": 100})
    assert not platform.wake("v1")  # untagged at 0 %: nothing reaches it
    warm = platform.keep_warm("v1", "old").revision("v1")
    assert warm is not None and (warm.tag, warm.percent, warm.min_instances) == ("old", 0, 1)
    assert platform.wake("v1")
    state = platform.retire("v1")
    assert state.revision("v1").tag is None and platform.instances("v1") == []  # type: ignore[union-attr]
    assert not platform.wake("v1")  # retired: no tag URL reaches it any more
    assert [r.name for r in platform.retire("v1", delete=True).revisions] == ["v2"]
