"""Matching what the code asks for against recorded history (pure; no I/O).

``check_match`` is the one place that decides whether a position replays a recorded
operation or diverges; the engine and the replay tool both go through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from .errors import NondeterminismError
from .records import OperationRecord

PATCH_KIND = "patch"
CONTEXT_WINDOW = 3


class _Ctx(Protocol):
    workflow_id: str
    version: str
    history: Mapping[int, OperationRecord]


def matches(recorded: OperationRecord, kind: str, name: str) -> bool:
    return recorded.kind == kind and recorded.name == name


def nearest_patch(history: Mapping[int, OperationRecord], position: int) -> str | None:
    """Name of the patch marker recorded closest to ``position`` (earlier wins a tie)."""
    markers = [
        (abs(pos - position), pos > position, op.name)
        for pos, op in history.items()
        if op.kind == PATCH_KIND
    ]
    return min(markers)[2] if markers else None


def window(history: Mapping[int, OperationRecord], position: int) -> list[OperationRecord]:
    lo, hi = position - CONTEXT_WINDOW, position + CONTEXT_WINDOW
    return [history[p] for p in sorted(history) if lo <= p <= hi]


def render_window(history: Mapping[int, OperationRecord], position: int, requested: str) -> str:
    lines = ["  recorded history around the divergence:"]
    for op in window(history, position):
        marker = "  <-- code asked for " + requested if op.position == position else ""
        lines.append(f"    {op.position:>4}  {op.kind:<10} {op.name}{marker}")
    if position not in history:
        lines.append(f"    {position:>4}  (nothing)  <-- code asked for {requested}")
    return "\n".join(lines)


def divergence(
    ctx: _Ctx, position: int, recorded: OperationRecord, kind: str, name: str, **extra: Any
) -> NondeterminismError:
    requested = f"{kind} {name!r}"
    return NondeterminismError(
        workflow_id=ctx.workflow_id,
        position=position,
        recorded=recorded.describe(),
        requested=requested,
        nearest_patch=nearest_patch(ctx.history, position),
        recorded_version=recorded.version,
        detail=render_window(ctx.history, position, requested),
        **extra,
    )


def check_match(
    ctx: _Ctx, position: int, recorded: OperationRecord | None, kind: str, name: str
) -> None:
    """Raise NondeterminismError when the recorded operation differs from the request."""
    if recorded is not None and not matches(recorded, kind, name):
        raise divergence(ctx, position, recorded, kind, name)
