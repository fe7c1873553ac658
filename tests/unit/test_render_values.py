"""How the CLI shows stored values: executor states by liveness, times with their zone."""

from __future__ import annotations

import pytest

from tether.render.base import timestamp
from tether.render.system import shown_state


@pytest.mark.parametrize(
    ("state", "alive", "shown"),
    [
        ("RUNNING", True, "RUNNING"),
        ("DRAINING", True, "DRAINING"),
        ("RUNNING", False, "DEAD (was RUNNING)"),  # killed: its lease lapsed
        ("DRAINING", False, "DEAD (was DRAINING)"),
        ("STOPPED", False, "STOPPED"),  # a clean exit
        ("DISCONNECTED", True, "DISCONNECTED"),  # alive, cut off from the database
        ("DISCONNECTED", False, "DISCONNECTED (lease lapsed)"),  # peers take its work
    ],
)
def test_executor_state(state: str, alive: bool, shown: str) -> None:
    assert shown_state(state, alive) == shown


def test_times_say_their_zone() -> None:
    assert timestamp(0) == "1970-01-01 00:00:00 UTC"
    assert timestamp(None) == "-"
