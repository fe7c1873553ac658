"""How a run or a step ended, named from what it raised (runtime.observe.outcome_of)."""

from __future__ import annotations

import pytest
from tether.runtime import observe
from tether.runtime.errors import (
    CancelledInterrupt,
    DrainingInterrupt,
    LeaseLostInterrupt,
    NondeterminismError,
    StoreUnavailableInterrupt,
    SuspendedInterrupt,
    WorkflowInterrupt,
)


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (None, "success"),
        (ValueError("no"), "error"),
        (KeyboardInterrupt(), "error"),
        (NondeterminismError(workflow_id="w", position=0, recorded="a", requested="b"), "parked"),
        (CancelledInterrupt("w"), "cancelled"),
        (SuspendedInterrupt("w"), "suspended"),
        (DrainingInterrupt("w"), "released"),
        (LeaseLostInterrupt("w"), "fenced"),
        (StoreUnavailableInterrupt("w"), "unavailable"),
        (WorkflowInterrupt("w"), "interrupted"),
    ],
)
def test_outcome_of(error: BaseException | None, outcome: str) -> None:
    assert observe.outcome_of(error) == outcome


def test_nothing_is_captured_until_a_source_is_installed() -> None:
    assert observe.capture() is None
    observe.set_capture(lambda: "00-trace-span-01")
    try:
        assert observe.capture() == "00-trace-span-01"
    finally:
        observe.set_capture(None)
    assert observe.capture() is None
