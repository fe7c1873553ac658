"""Autoscaling decisions as a table: immediate scale-out, debounced scale-in, bounds."""

from __future__ import annotations

import pytest
from tether.rollout.autoscale import Load, ScalePolicy, decide
from tether.runtime.errors import ConfigurationError

P = ScalePolicy(
    min_floor=1, max_ceiling=20, per_instance=10, headroom=1.0, max_wait_s=5, scale_in_delay=60
)
T = 1_000_000


@pytest.mark.parametrize(
    ("load", "cur", "low_since", "expect"),
    [
        # (min, max, change, low_since) expected
        (Load(0, 0), (None, None), None, (1, 20, True, None)),  # first decision: the floor
        (Load(35, 0), (1, 20), None, (4, 20, True, None)),  # burst: out at once
        (Load(500, 0), (4, 20), None, (20, 20, True, None)),  # capped at the ceiling
        (Load(3, 0, oldest_wait_s=9), (1, 20), None, (2, 20, True, None)),  # waits too long
        (Load(10, 10), (2, 20), None, (2, 20, False, None)),  # steady
        (Load(0, 0), (4, 20), None, (4, 20, False, T)),  # low: start the debounce
        (Load(0, 0), (4, 20), T - 30_000, (4, 20, False, T - 30_000)),  # still debouncing
        (Load(0, 0), (4, 20), T - 60_000, (1, 20, True, None)),  # low long enough: in
        (Load(15, 0), (4, 20), T - 60_000, (2, 20, True, None)),  # in only to what is needed
        (Load(50, 0), (4, 20), T - 30_000, (5, 20, True, None)),  # a burst ends the debounce
        (Load(10, 0), (1, 50), None, (1, 20, True, None)),  # max brought within bounds
    ],
)
def test_decide(
    load: Load,
    cur: tuple[int | None, int | None],
    low_since: int | None,
    expect: tuple[int, int, bool, int | None],
) -> None:
    d = decide(load, P, current_min=cur[0], current_max=cur[1], now_ms=T, low_since_ms=low_since)
    assert (d.min_instances, d.max_instances, d.change, d.low_since_ms) == expect, d.reason
    assert P.min_floor <= d.min_instances <= d.max_instances <= P.max_ceiling


def test_load_from_queue_stats() -> None:
    stats = [
        {"queue": "a", "waiting": 3, "running": 2, "oldest_wait_s": 1.5},
        {"queue": "b", "waiting": 4, "running": 0, "oldest_wait_s": None},
        {"queue": "a", "waiting": 1, "running": 1, "oldest_wait_s": 7.0},
    ]
    assert Load.from_stats(stats) == Load(8, 3, 7.0)
    assert Load.from_stats(stats, ["b"]) == Load(4, 0, None)


def test_bad_policies() -> None:
    for kwargs in ({"min_floor": 5, "max_ceiling": 2}, {"per_instance": 0}, {"headroom": 0.5}):
        with pytest.raises(ConfigurationError):
            ScalePolicy(**kwargs)  # type: ignore[arg-type]
