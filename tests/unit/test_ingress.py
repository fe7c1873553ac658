"""Pure decisions of the local ingress: revision per request, tags, split checks, floors."""

from __future__ import annotations

import pytest
from tether.rollout.ingress import (
    check_split,
    instance_floor,
    parse_tag,
    pick_revision,
    tag_url,
)
from tether.rollout.platform import SplitError


@pytest.mark.parametrize(
    ("split", "draw", "expected"),
    [
        ({"a": 100}, 0.0, "a"),
        ({"a": 100}, 99.99, "a"),
        ({"a": 90, "b": 10}, 89.99, "a"),
        ({"a": 90, "b": 10}, 90.0, "b"),
        ({"b": 10, "a": 90}, 90.0, "b"),  # name order, not insertion order
        ({"a": 0, "b": 100}, 0.0, "b"),  # a 0 % revision never gets a request
        ({"a": 50, "b": 50}, 100.0, "b"),  # the top end goes to the last one
        ({}, 10.0, None),
        ({"a": 0}, 10.0, None),
    ],
)
def test_pick_revision(split: dict[str, int], draw: float, expected: str | None) -> None:
    assert pick_revision(split, draw) == expected


def test_pick_revision_shares_follow_percentages() -> None:
    split = {"v1": 70, "v2": 20, "v3": 10}
    picks = [pick_revision(split, d / 10) for d in range(1000)]
    assert {r: picks.count(r) for r in split} == {"v1": 700, "v2": 200, "v3": 100}


@pytest.mark.parametrize(
    ("path", "host", "expected"),
    [
        ("/workflows/x", "127.0.0.1:8080", (None, "/workflows/x")),
        ("/_tag/canary/workflows/x", None, ("canary", "/workflows/x")),
        ("/_tag/canary/workflows/x?a=1", None, ("canary", "/workflows/x?a=1")),
        ("/_tag/canary", None, ("canary", "/")),
        ("/_tag/canary?a=1", None, ("canary", "/?a=1")),
        ("/_tag//healthz", None, (None, "/healthz")),
        ("/healthz", "canary---router:9000", ("canary", "/healthz")),
        ("/_tag/v-2/healthz", "old---router", ("v-2", "/healthz")),  # the path wins
    ],
)
def test_parse_tag(path: str, host: str | None, expected: tuple[str | None, str]) -> None:
    assert parse_tag(path, host) == expected


def test_tag_url_round_trips_through_parse_tag() -> None:
    url = tag_url("http://127.0.0.1:9000/", "canary")
    assert url == "http://127.0.0.1:9000/_tag/canary"
    assert parse_tag(url.removeprefix("http://127.0.0.1:9000") + "/tether/wake", None) == (
        "canary",
        "/tether/wake",
    )


KNOWN = {"v1": True, "v2": True, "v3": False}


@pytest.mark.parametrize(
    ("split", "tags", "expected"),
    [
        ({"v1": 100}, {}, {"v1": 100}),
        ({"v1": 90, "v2": 10}, {"v2": "canary"}, {"v1": 90, "v2": 10}),
        ({"v1": 100, "v2": 0, "v3": 0}, {"v3": "next"}, {"v1": 100}),  # unready at 0 % is fine
    ],
)
def test_check_split_accepts(
    split: dict[str, int], tags: dict[str, str], expected: dict[str, int]
) -> None:
    assert check_split(split, KNOWN, tags) == expected


@pytest.mark.parametrize(
    ("split", "tags", "message"),
    [
        ({"v1": 90}, {}, "sum to 100, not 90"),
        ({"v1": 90, "v2": 20}, {}, "sum to 100, not 110"),
        ({"v9": 100}, {}, "unknown revision 'v9'"),
        ({"v1": 50, "v3": 50}, {}, "'v3' is not ready"),
        ({"v1": 101, "v2": -1}, {}, "whole percent"),
        ({"v1": 99.5, "v2": 0.5}, {}, "whole percent"),
        ({"v1": 100}, {"v9": "x"}, "cannot tag unknown revision 'v9'"),
        ({"v1": 100}, {"v2": "Canary"}, "lowercase"),
        ({"v1": 100}, {"v1": "a", "v2": "a"}, "given to both"),
    ],
)
def test_check_split_refuses(split: dict[str, int], tags: dict[str, str], message: str) -> None:
    with pytest.raises(SplitError, match=message):
        check_split(split, KNOWN, tags)


@pytest.mark.parametrize(
    ("revision_min", "service_min", "percent", "floor"),
    [
        (None, None, 100, 0),
        (2, None, 0, 2),  # a revision's own minimum holds even at 0 %
        (None, 2, 100, 2),
        (None, 2, 50, 1),
        (None, 3, 10, 1),  # shares round up
        (None, 3, 0, 0),  # no traffic, no share of the service minimum
        (1, 4, 50, 2),
    ],
)
def test_instance_floor(
    revision_min: int | None, service_min: int | None, percent: int, floor: int
) -> None:
    assert instance_floor(revision_min, service_min, percent) == floor
