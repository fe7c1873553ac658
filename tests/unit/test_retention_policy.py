"""Retention's pure parts: the cutoff (age or row budget, whichever reaches further) and ages."""

from __future__ import annotations

import pytest
from tether.runtime.errors import ConfigurationError

from tether.retention import RetentionPolicy, cutoff, parse_age

NOW = 1_000_000


@pytest.mark.parametrize(
    ("max_age_ms", "budget", "expected"),
    [
        (None, None, None),  # no limit: keep everything
        (1000, None, NOW - 1000),  # by age alone
        (None, 5000, 5000),  # by budget alone
        (1000, 5000, NOW - 1000),  # age reaches further
        (NOW - 10, 5000, 5000),  # budget reaches further
        (0, None, NOW),  # max_age 0: everything finished before now
    ],
)
def test_cutoff(max_age_ms: int | None, budget: int | None, expected: int | None) -> None:
    assert cutoff(NOW, max_age_ms=max_age_ms, budget_cutoff=budget) == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(3600, 3600.0), ("90", 90.0), ("90s", 90.0), ("15m", 900.0), ("12h", 43200.0),
     ("30d", 2_592_000.0), ("2w", 1_209_600.0), (" 1.5h ", 5400.0)],
)  # fmt: skip
def test_parse_age(text: str | float, seconds: float) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "30 days", "d", "-5", "1y", -1])
def test_parse_age_refuses(text: str | float) -> None:
    with pytest.raises(ConfigurationError, match="age"):
        parse_age(text)


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        (RetentionPolicy(None, None), "needs max_age"),
        (RetentionPolicy(None, -1), "max_workflows"),
        (RetentionPolicy(60, None, 0), "batch_size"),
    ],
)
def test_policy_validation(policy: RetentionPolicy, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        policy.validate()
