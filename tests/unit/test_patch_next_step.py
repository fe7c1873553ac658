"""The patch report's next step, beside the gate's state in code (a table)."""

from __future__ import annotations

import pytest
from tether.versioning.patch_report import KEEP, SAFE_TO_DEPRECATE, SAFE_TO_REMOVE, next_action


@pytest.mark.parametrize(
    ("in_code", "verdict", "problem", "action"),
    [
        ("patch", KEEP, False, "keep the gate"),
        ("patch", SAFE_TO_DEPRECATE, False, "deprecate it"),
        ("patch", SAFE_TO_REMOVE, False, "remove it"),
        ("deprecate_patch", SAFE_TO_DEPRECATE, False, "wait for markers to go"),  # not "deprecate"
        ("deprecate_patch", SAFE_TO_REMOVE, False, "remove it"),
        ("deprecate_patch", KEEP, True, "restore the gate"),
        (None, SAFE_TO_DEPRECATE, True, "restore deprecate_patch"),
        (None, SAFE_TO_REMOVE, False, "nothing (done)"),
    ],
)
def test_next_action(in_code: str | None, verdict: str, problem: bool, action: str) -> None:
    assert next_action(in_code, verdict, problem=problem) == action
