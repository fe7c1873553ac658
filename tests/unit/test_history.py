"""Matching requested operations against recorded history, and the divergence report."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from tether.runtime.errors import NondeterminismError
from tether.runtime.history import PATCH_KIND, check_match, divergence, matches, nearest_patch
from tether.runtime.records import OperationRecord


@dataclass
class Ctx:
    workflow_id: str = "wf-1"
    version: str = "v2"
    history: dict[int, OperationRecord] = field(default_factory=dict)


def history(*ops: tuple[str, str]) -> dict[int, OperationRecord]:
    return {i: OperationRecord(i, kind, name, version="v1") for i, (kind, name) in enumerate(ops)}


def test_nothing_recorded_or_same_operation_matches() -> None:
    ctx = Ctx(history=history(("step", "charge")))
    recorded = ctx.history[0]
    assert matches(recorded, "step", "charge")
    assert not matches(recorded, "step", "refund") and not matches(recorded, "sleep", "charge")
    # A match, and a position past the end of history, pass without raising or changing it.
    assert check_match(ctx, 0, recorded, "step", "charge") is None
    assert check_match(ctx, 1, None, "step", "anything") is None
    assert ctx.history == history(("step", "charge"))


@pytest.mark.parametrize(("kind", "name"), [("step", "refund"), ("sleep", "charge")])
def test_different_kind_or_name_diverges(kind: str, name: str) -> None:
    ctx = Ctx(history=history(("step", "charge")))
    with pytest.raises(NondeterminismError) as info:
        check_match(ctx, 0, ctx.history[0], kind, name)
    err = info.value
    assert (err.workflow_id, err.position) == ("wf-1", 0)
    assert err.recorded == "step 'charge'"
    assert err.requested == f"{kind} {name!r}"
    assert err.recorded_version == "v1"


def test_nearest_patch() -> None:
    assert nearest_patch(history(("step", "a"), ("step", "b")), 1) is None
    h = history(
        (PATCH_KIND, "early"),
        ("step", "a"),
        ("step", "b"),
        (PATCH_KIND, "late"),
        ("step", "c"),
        ("step", "d"),
    )
    assert nearest_patch(h, 4) == "late"
    assert nearest_patch(h, 1) == "early"
    # Position 2 is two away from "early" and one from "late".
    assert nearest_patch(h, 2) == "late"
    # A tie goes to the earlier marker.
    tie = history((PATCH_KIND, "before"), ("step", "x"), (PATCH_KIND, "after"))
    assert nearest_patch(tie, 1) == "before"


def test_divergence_message_names_everything_needed_to_fix_it() -> None:
    ctx = Ctx(history=history(("step", "a"), (PATCH_KIND, "new-fees"), ("step", "charge")))
    err = divergence(ctx, 2, ctx.history[2], "step", "refund")
    msg = str(err)
    assert "'wf-1'" in msg
    assert "position 2" in msg
    assert "recorded step 'charge'" in msg
    assert "asked for step 'refund'" in msg
    assert "'new-fees'" in msg
    assert "version 'v1'" in msg
    assert "resume" in msg
    # The window of history around the divergence points at the position.
    marked = [line for line in msg.splitlines() if "<-- code asked for" in line]
    assert len(marked) == 1 and "charge" in marked[0]
    assert err.nearest_patch == "new-fees"


def test_divergence_past_the_end_of_history_shows_nothing_recorded() -> None:
    ctx = Ctx(history=history(("step", "a")))
    err = divergence(ctx, 3, ctx.history[0], "sleep", "sleep")
    assert "(nothing)  <-- code asked for sleep 'sleep'" in err.detail


def test_nondeterminism_error_survives_its_fields() -> None:
    ctx = Ctx(history=history(("step", "a")))
    err = divergence(ctx, 0, ctx.history[0], "step", "b")
    rebuilt = NondeterminismError(**err.to_fields())
    assert str(rebuilt) == str(err)
