"""Reads and traffic changes: the real google-cloud-run client over HTTP against the stand-in."""

from __future__ import annotations

import pytest
from tether.rollout.cloudrun import CloudRunPlatform
from tether.rollout.platform import Platform, SplitError

from .conftest import Service


def test_describe_joins_revisions_with_traffic(cloud: Service, platform: CloudRunPlatform) -> None:
    assert isinstance(platform, Platform)
    state = platform.describe()
    assert state.traffic == {cloud.old: 100}
    assert [r.name for r in state.revisions] == [cloud.new, cloud.old]
    old = state.revision(cloud.old)
    assert old is not None and old.ready and old.version == cloud.old
    assert state.latest_ready == cloud.new
    assert state.generation == cloud.fake.state.service().generation


def test_version_hook_links_revisions_to_versions(cloud: Service, make_platform: object) -> None:
    platform = make_platform(version_of={cloud.new: "2.0"}.get)  # type: ignore[operator]
    state = platform.describe()
    assert state.revision(cloud.new).version == "2.0"  # type: ignore[union-attr]
    assert state.revision(cloud.old).version == cloud.old  # type: ignore[union-attr]


def test_set_traffic_writes_only_traffic_with_the_etag(
    cloud: Service, platform: CloudRunPlatform
) -> None:
    etag = cloud.fake.state.service().etag
    state = platform.set_traffic({cloud.old: 90, cloud.new: 10}, tags={cloud.new: "candidate"})

    (patch,) = cloud.fake.state.calls("UpdateService")
    assert patch.query["updateMask"] == "traffic"
    assert patch.body is not None and patch.body["etag"] == etag and etag.startswith('"')
    assert {"type": 2, "revision": cloud.new, "percent": 10, "tag": "candidate"} in patch.body[
        "traffic"
    ]
    assert "authorization" not in {k.lower() for k in patch.headers}
    assert state.traffic == {cloud.old: 90, cloud.new: 10}
    new = state.revision(cloud.new)
    assert new is not None and new.tag == "candidate"
    assert new.tag_url == "https://candidate---agent-fakehash-uc.a.run.app"
    assert state.extra["reconciling"] == "false"
    assert len(cloud.fake.state.revisions[cloud.fake.state.service_name("agent")]) == 2


def test_repeating_a_split_sends_no_second_write(
    cloud: Service, platform: CloudRunPlatform
) -> None:
    platform.set_traffic({cloud.old: 50, cloud.new: 50})
    platform.set_traffic({cloud.old: 50, cloud.new: 50})
    assert len(cloud.fake.state.calls("UpdateService")) == 1


def test_existing_tags_are_kept_and_a_requested_tag_moves(
    cloud: Service, platform: CloudRunPlatform
) -> None:
    third = cloud.fake.state.deploy("agent", "agent-00003-xyz", tag="next")
    platform.set_traffic({cloud.old: 100}, tags={cloud.old: "stable"})
    state = platform.set_traffic({cloud.new: 100}, tags={cloud.new: "stable"})
    assert state.tags == {third: "next", cloud.new: "stable"}
    assert state.traffic == {cloud.new: 100}


@pytest.mark.parametrize(
    "split,tags,message",
    [
        ({"agent-00001-old": 90}, {}, "sums to 90"),
        ({"agent-00001-old": 110, "agent-00002-new": -10}, {}, "0..100"),
        ({"agent-00001-old": 100}, {"agent-00001-old": "a", "agent-00002-new": "a"}, "both"),
        ({"agent-00001-old": 100}, {"agent-00002-new": "Bad_Tag"}, "not a valid tag"),
        ({}, {}, "empty"),
    ],
)
def test_invalid_split_is_refused_before_any_request(
    cloud: Service,
    platform: CloudRunPlatform,
    split: dict[str, int],
    tags: dict[str, str],
    message: str,
) -> None:
    with pytest.raises(SplitError, match=message):
        platform.set_traffic(split, tags)
    assert cloud.fake.state.requests == []


def test_unknown_or_unready_revision_is_refused_before_any_write(
    cloud: Service, platform: CloudRunPlatform
) -> None:
    pending = cloud.fake.state.deploy("agent", "agent-00003-pen", ready=False)
    with pytest.raises(SplitError, match="does not exist"):
        platform.set_traffic({"agent-00009-zzz": 100})
    with pytest.raises(SplitError, match="not ready"):
        platform.set_traffic({cloud.old: 50, pending: 50})
    assert cloud.fake.state.calls("UpdateService") == []
    # An unready revision may still be tagged (reachable once it becomes ready).
    assert platform.keep_warm(pending, "pending").tags[pending] == "pending"


def test_keep_warm_adds_a_tagged_zero_percent_entry(
    cloud: Service, platform: CloudRunPlatform
) -> None:
    state = platform.keep_warm(cloud.new, "v2")
    assert state.traffic == {cloud.old: 100}
    assert state.tags == {cloud.new: "v2"}
    entries = cloud.fake.state.service().traffic
    assert [(t.revision, t.percent, t.tag) for t in entries] == [
        (cloud.old, 100, ""),
        (cloud.new, 0, "v2"),
    ]
    platform.keep_warm(cloud.new, "v2")
    assert len(cloud.fake.state.calls("UpdateService")) == 1


def test_paging_lists_every_revision(cloud: Service, make_platform: object) -> None:
    for i in range(3, 8):
        cloud.fake.state.deploy("agent", f"agent-{i:05d}-abc")
    platform = make_platform(page_size=2)  # type: ignore[operator]
    cloud.fake.state.clear_log()
    state = platform.describe()
    assert len(state.revisions) == 7
    pages = cloud.fake.state.calls("ListRevisions")
    assert len(pages) == 4
    assert [bool(p.query.get("pageToken")) for p in pages] == [False, True, True, True]
