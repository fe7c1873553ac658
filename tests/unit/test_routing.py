"""Routing must be the same in every process: a golden table, and a check from a second process.

A ramp splits new work by ``bucket(workflow_id)``; if two executors (or a retry on another
machine) computed different buckets for one id, the same idempotent enqueue could land on
two versions. These figures are frozen: changing them re-routes in-flight ramps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from tether.runtime.errors import ConfigurationError
from tether.runtime.routing import BUCKETS, Routing, bucket, route

GOLDEN = {
    "wf-1": 8794,
    "order-42": 6703,
    "": 1652,
    "é-unicode": 6849,
    "a" * 300: 267,
    "shop:2024-05-01T00:00:00Z": 2943,
    "r-0": 2154,
    "r-1": 4488,
    "r-7": 6238,
    "00000000-0000-0000-0000-000000000000": 8868,
}


@pytest.mark.parametrize(("workflow_id", "expected"), GOLDEN.items(), ids=range(len(GOLDEN)))
def test_bucket_golden_table(workflow_id: str, expected: int) -> None:
    assert bucket(workflow_id) == expected


@pytest.mark.parametrize(("workflow_id", "b"), [("r-0", 2154), ("r-1", 4488)])
def test_route_uses_the_bucket_against_the_percentage(workflow_id: str, b: int) -> None:
    # The ramp takes buckets strictly below percent * BUCKETS / 100.
    at = Routing("v1", "v2", percent=100 * b / BUCKETS)
    just_above = Routing("v1", "v2", percent=100 * (b + 1) / BUCKETS)
    assert route(workflow_id, at) == "v1"
    assert route(workflow_id, just_above) == "v2"


_CHILD = """
import json, sys
from tether.runtime.routing import bucket
ids = json.loads(sys.stdin.read())
print(json.dumps([bucket(i) for i in ids]))
"""


@pytest.mark.parametrize("hash_seed", ["1", "4242"])
def test_another_process_with_another_hash_seed_routes_the_same(hash_seed: str) -> None:
    ids = [*GOLDEN, *(f"order-{i}" for i in range(200))]
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps(ids),
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    ).stdout
    assert json.loads(out) == [bucket(i) for i in ids]


@pytest.mark.parametrize(
    ("routing", "known", "message"),
    [
        (Routing("v1", "v2", -0.01), None, r"percent must be within 0\.\.100, got -0\.01"),
        (Routing("v1", "v2", 100.01), None, r"percent must be within 0\.\.100, got 100\.01"),
        (
            Routing("v1", "v1", 5.0),
            None,
            r"^ramping version 'v1' equals the current version: promote it with current=\.\.\. "
            r"instead$",
        ),
        (Routing("v1", None, 5.0), None, "^percent > 0 needs a ramping version$"),
        (Routing("v1", None, 1.0), None, "^percent > 0 needs a ramping version$"),
        (Routing("v1", None, 1), None, "^percent > 0 needs a ramping version$"),
        (
            Routing("v7", None, 0.0),
            {"v1"},
            r"^unknown version 'v7': known versions are \['v1'\] \(a version becomes known "
            r"when an executor running it launches\)$",
        ),
        (Routing("v1", "v8", 10.0), {"v1", "v2"}, "unknown version 'v8'"),
    ],
)
def test_routing_validation_refuses(routing: Routing, known: set[str] | None, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        routing.validate(known)


@pytest.mark.parametrize(
    ("routing", "known"),
    [
        (Routing("v1", "v2", 0.0), None),
        (Routing("v1", None, 0), None),
        (Routing("v1", "v2", 100.0), {"v1", "v2"}),
        (Routing("v1"), {"v1"}),
        (Routing(None), set()),
        (Routing(None, "v2", 50.0), {"v2"}),
    ],
)
def test_routing_validation_accepts(routing: Routing, known: set[str] | None) -> None:
    assert routing.validate(known) is routing
