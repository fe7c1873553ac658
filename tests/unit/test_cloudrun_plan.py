"""Table tests of the Cloud Run adapter's pure decisions (tether.rollout.cloudrun.plan)."""

from __future__ import annotations

import pytest
from tether.rollout.cloudrun.plan import (
    Entry,
    check_revisions,
    check_split,
    near_cap,
    plan_retire,
    plan_traffic,
    resolved_split,
    same_traffic,
    settled,
)
from tether.rollout.platform import PlatformError, SplitError

A, B, C = "svc-a", "svc-b", "svc-c"


@pytest.mark.parametrize(
    "current,split,tags,expected",
    [
        # first shift: split pinned by name, the candidate tagged
        ([Entry(A, 100)], {A: 90, B: 10}, {B: "canary"}, [Entry(A, 90), Entry(B, 10, "canary")]),
        # existing tags survive a split that does not mention them
        ([Entry(A, 90, "v1"), Entry(B, 10)], {B: 100}, {}, [Entry(A, 0, "v1"), Entry(B, 100)]),
        # a revision leaving the split without a tag leaves the traffic list
        ([Entry(A, 50), Entry(B, 50)], {B: 100}, {}, [Entry(B, 100)]),
        # a requested tag moves from the revision that had it
        ([Entry(A, 100, "stable")], {B: 100}, {B: "stable"}, [Entry(B, 100, "stable")]),
        # a requested tag replaces the revision's own tag
        ([Entry(A, 100, "old")], {A: 100}, {A: "new"}, [Entry(A, 100, "new")]),
        # tag-only entry for a third revision at 0 %
        ([Entry(A, 100)], {A: 100}, {C: "keep"}, [Entry(A, 100), Entry(C, 0, "keep")]),
        # LATEST is replaced by a pinned split; a tagged LATEST stays addressable at 0 %
        ([Entry(None, 100, "head")], {A: 100}, {}, [Entry(A, 100), Entry(None, 0, "head")]),
        ([Entry(None, 100)], {A: 100}, {}, [Entry(A, 100)]),
    ],
)
def test_plan_traffic(
    current: list[Entry], split: dict[str, int], tags: dict[str, str], expected: list[Entry]
) -> None:
    assert same_traffic(plan_traffic(current, split, tags), expected)


@pytest.mark.parametrize(
    "current,revision,expected",
    [
        ([Entry(A, 0, "v1"), Entry(B, 100)], A, [Entry(B, 100)]),
        ([Entry(B, 100)], A, [Entry(B, 100)]),  # already retired: nothing to change
        ([Entry(B, 100, "x"), Entry(C, 0, "y")], C, [Entry(B, 100, "x")]),
    ],
)
def test_plan_retire(current: list[Entry], revision: str, expected: list[Entry]) -> None:
    assert same_traffic(plan_retire(current, revision, latest_ready=B), expected)


@pytest.mark.parametrize(
    "current,revision,latest",
    [([Entry(A, 10), Entry(B, 90)], A, B), ([Entry(None, 100)], B, B)],
)
def test_plan_retire_refuses_a_revision_with_traffic(
    current: list[Entry], revision: str, latest: str
) -> None:
    with pytest.raises(PlatformError, match="still serves"):
        plan_retire(current, revision, latest_ready=latest)


@pytest.mark.parametrize(
    "split,tags,message",
    [
        ({}, {}, "empty"),
        ({A: 60, B: 30}, {}, "sums to 90"),
        ({A: 101, B: -1}, {}, "0..100"),
        ({A: 99.5, B: 0.5}, {}, "integer"),
        ({A: True, B: 99}, {}, "integer"),
        ({A: 100}, {A: "x", B: "x"}, "both"),
        ({A: 100}, {A: "Upper"}, "not a valid tag"),
        ({A: 100}, {A: "-lead"}, "not a valid tag"),
        ({A: 100}, {A: "a" * 47}, "not a valid tag"),
    ],
)
def test_check_split_refuses(split: dict[str, int], tags: dict[str, str], message: str) -> None:
    with pytest.raises(SplitError, match=message):
        check_split(split, tags)


def test_check_split_accepts_a_valid_split() -> None:
    check_split({A: 90, B: 10, C: 0}, {B: "canary", C: "v-3"})


@pytest.mark.parametrize(
    "split,tags,message",
    [
        ({"gone": 100}, {}, "does not exist"),
        ({A: 100}, {"gone": "t"}, "does not exist"),
        ({A: 50, B: 50}, {}, "not ready"),
    ],
)
def test_check_revisions_refuses(split: dict[str, int], tags: dict[str, str], message: str) -> None:
    with pytest.raises(SplitError, match=message):
        check_revisions(split, tags, {A: True, B: False})


def test_check_revisions_lets_an_unready_revision_be_tagged_at_zero() -> None:
    check_revisions({A: 100, B: 0}, {B: "next"}, {A: True, B: False})


@pytest.mark.parametrize(
    "entries,expected",
    [
        ([Entry(A, 90), Entry(B, 10)], {A: 90, B: 10}),
        ([Entry(None, 100)], {B: 100}),
        ([Entry(None, 50), Entry(B, 50)], {B: 100}),
        ([Entry(A, 0, "t")], {}),
    ],
)
def test_resolved_split(entries: list[Entry], expected: dict[str, int]) -> None:
    assert resolved_split(entries, latest_ready=B) == expected


BASE = {"generation": 4, "observed_generation": 4, "reconciling": False, "succeeded": True}


@pytest.mark.parametrize(
    "changes,traffic,statuses,expected",
    [
        ({}, [Entry(A, 100)], [Entry(A, 100)], True),
        ({"observed_generation": 3}, [Entry(A, 100)], [Entry(A, 100)], False),
        ({"reconciling": True}, [Entry(A, 100)], [Entry(A, 100)], False),
        ({"succeeded": False}, [Entry(A, 100)], [Entry(A, 100)], False),
        ({}, [Entry(A, 90), Entry(B, 10)], [Entry(A, 100)], False),
        ({}, [Entry(A, 100), Entry(B, 0, "t")], [Entry(A, 100)], False),
        # statuses may report LATEST resolved to the revision it points at
        ({}, [Entry(None, 100)], [Entry(B, 100)], True),
        ({}, [], [Entry(B, 100)], True),
        ({}, [], [Entry(A, 100)], False),
    ],
)
def test_settled(
    changes: dict[str, object], traffic: list[Entry], statuses: list[Entry], expected: bool
) -> None:
    flags = {**BASE, **changes}
    assert (
        settled(traffic=traffic, statuses=statuses, latest_ready=B, **flags)  # type: ignore[arg-type]
        is expected
    )


@pytest.mark.parametrize("count,warns", [(10, False), (949, False), (950, True), (1000, True)])
def test_near_cap(count: int, warns: bool) -> None:
    assert (near_cap(count) is not None) is warns
