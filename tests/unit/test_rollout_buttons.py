"""Which controls the dashboard's rollout strip offers in each state."""

from __future__ import annotations

import pytest

from tether.dashboard.pages import rollout_actions


@pytest.mark.parametrize(
    ("state", "reason", "actions"),
    [
        ("running", None, ["pause", "promote", "abort"]),
        ("running", "gates green at 5 %", ["pause", "promote", "abort"]),
        ("paused", "paused by cli", ["resume", "promote", "abort"]),
        ("paused", None, ["resume", "promote", "abort"]),
        ("paused", "waiting for approval to shift to 50%", ["approve", "promote", "abort"]),
        ("promoted", None, []),
        ("rolled_back", "gate failed", []),
        ("failed", "waiting for approval to shift to 50%", []),
    ],
)
def test_rollout_actions(state: str, reason: str | None, actions: list[str]) -> None:
    assert rollout_actions(state, reason) == actions
