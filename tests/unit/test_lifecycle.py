"""A version's lifecycle decisions, as tables: its state, retiring it, routing to it."""

from __future__ import annotations

import pytest
from tether.runtime.errors import ConfigurationError
from tether.versioning.lifecycle import (
    check_not_retired,
    derive_state,
    retire_refusal,
    route_refusal,
)


@pytest.mark.parametrize(
    ("stored", "routed", "open_total", "had_work", "state"),
    [
        ("active", False, 0, False, "idle"),  # launched, never had work, not routed
        ("active", True, 0, False, "idle"),  # a fresh canary: routed to, no work yet
        ("active", True, 0, True, "idle"),  # routed to, its work all finished
        ("active", True, 3, True, "active"),
        ("active", False, 3, True, "draining"),
        ("active", False, 0, True, "drained"),  # only this one's revision can go
        ("retired", False, 0, True, "retired"),
        ("retired", False, 0, False, "retired"),
    ],
)
def test_state(stored: str, routed: bool, open_total: int, had_work: bool, state: str) -> None:
    assert derive_state(stored, routed=routed, open_total=open_total, had_work=had_work) == state


@pytest.mark.parametrize(
    ("state", "routed", "open_total", "refusal"),
    [
        ("drained", False, 0, None),
        ("idle", False, 0, None),  # never ran anything, nothing routed to it
        ("idle", True, 0, "new work is routed to it"),
        ("active", True, 2, "new work is routed to it"),
        ("draining", False, 2, "it still has 2 open workflow(s)"),
    ],
)
def test_retire(state: str, routed: bool, open_total: int, refusal: str | None) -> None:
    assert retire_refusal(state, routed=routed, open_total=open_total) == refusal


@pytest.mark.parametrize(
    ("retired", "live", "force", "refused"),
    [
        (False, 1, False, None),
        (False, 0, False, "no live executor runs version 'v2'"),
        (False, 0, True, None),  # forced: the caller warns
        (True, 1, False, "is retired: un-retire it first"),
        (True, 1, True, "is retired: un-retire it first"),  # force never routes to retired
    ],
)
def test_route(retired: bool, live: int, force: bool, refused: str | None) -> None:
    got = route_refusal("v2", retired=retired, live_runners=live, force=force)
    assert (got is None) == (refused is None)
    if refused is not None:
        assert got is not None and refused in got


def test_retired_refuses_with_the_undo() -> None:
    check_not_retired("v1", "active", doing="launch")
    check_not_retired("v1", None, doing="launch")
    with pytest.raises(ConfigurationError, match="unretire v1"):
        check_not_retired("v1", "retired", doing="launch")
