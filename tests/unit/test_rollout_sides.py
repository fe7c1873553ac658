"""Choosing the rollout's sides: the candidate by revision, version or release tag; versions
from the platform, the registry's link, or the revision name; refusals before any change."""

from __future__ import annotations

from typing import Any

import pytest
from tether.rollout.platform import Revision, ServiceState
from tether.rollout.sides import choose_sides
from tether.rollout.split import Side

STATE = ServiceState(
    "svc",
    (
        Revision("svc-001", None, True, 100, "live"),  # version = its name (K_REVISION)
        Revision("svc-002", None, True, 0),  # the registry links it to "orders-2"
        Revision("svc-003", "v3", False, 0),
        Revision("svc-004", "v4", True, 0, "v-v4"),
    ),
)
REGISTRY: list[dict[str, Any]] = [
    {"version": "svc-001", "release": "1.0.0", "platform_revision": "svc-001"},
    {"version": "orders-2", "release": "2.0.0", "platform_revision": "svc-002"},
    {"version": "v3", "release": None, "platform_revision": None},
]


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (
            "svc-002",
            (Side("svc-001", "svc-001", "live"), Side("svc-002", "orders-2", "v-orders-2")),
        ),
        (
            "orders-2",
            (Side("svc-001", "svc-001", "live"), Side("svc-002", "orders-2", "v-orders-2")),
        ),
        ("2.0", (Side("svc-001", "svc-001", "live"), Side("svc-002", "orders-2", "v-orders-2"))),
        ("svc-003", "revision 'svc-003' is not ready"),
        ("svc-004", "version 'v4' of revision 'svc-004' is unknown to tether"),
        ("svc-001", "already serves all traffic"),
        ("9.9", "no revision of 'svc' is '9.9'"),
    ],
)
def test_choose_sides(ref: str, expected: tuple[Side, Side] | str) -> None:
    got = choose_sides(STATE, ref, REGISTRY)
    if isinstance(expected, str):
        assert isinstance(got, str) and expected in got
    else:
        assert got == expected
