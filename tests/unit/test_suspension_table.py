"""The suspension decision, as a table (see runtime.suspension.should_suspend)."""

from __future__ import annotations

import pytest
from tether.runtime.suspension import should_suspend

CASES = [
    # waited, grace, left_ms, others, interrupted -> suspend
    (0.0, 1.0, None, False, False, False),  # within the grace: keep waiting in memory
    (0.99, 1.0, None, False, False, False),
    (1.0, 1.0, None, False, False, True),  # grace over, no deadline: suspend
    (1.0, 1.0, 60_000, False, False, True),  # a long deadline: suspend
    (1.0, 1.0, 900, False, False, False),  # ends within another grace: cheaper to wait
    (1.0, 1.0, 1_000, False, False, False),
    (1.0, 1.0, 1_001, False, False, True),
    (5.0, None, None, False, False, False),  # suspension disabled
    (5.0, 1.0, None, True, False, False),  # a sibling async branch is still running
    (5.0, 1.0, None, False, True, False),  # cancelled or draining: stop for that instead
    (0.0, 0.0, None, False, False, True),  # grace 0: suspend at once
]


@pytest.mark.parametrize(("waited", "grace", "left", "others", "interrupted", "expected"), CASES)
def test_should_suspend(
    waited: float,
    grace: float | None,
    left: int | None,
    others: bool,
    interrupted: bool,
    expected: bool,
) -> None:
    got = should_suspend(
        waited=waited,
        grace=grace,
        left_ms=left,
        others_in_flight=others,
        interrupted=interrupted,
    )
    assert got is expected
