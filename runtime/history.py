"""Matching what the code asks for against recorded history (pure; no I/O).

``check_match`` is the one place that decides whether a position replays a recorded
operation or diverges; the engine and the replay tool both go through it. A divergence
shows the recorded operations around it next to what the code asked for, the patch gates
the code evaluated, and which version wrote the history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from .errors import NondeterminismError
from .records import OperationRecord

PATCH_KIND = "patch"
CONTEXT_WINDOW = 3

# A patch gate the code evaluated: (position, "patch" or "deprecate_patch", name, returned);
# kept on the context by tether.versioning.patches.
Gate = tuple[int, str, str, bool]


class _Ctx(Protocol):
    @property
    def workflow_id(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def history(self) -> Mapping[int, OperationRecord]: ...


def matches(recorded: OperationRecord, kind: str, name: str) -> bool:
    return recorded.kind == kind and recorded.name == name


def nearest_patch(
    history: Mapping[int, OperationRecord], position: int, gates: Iterable[Gate] = ()
) -> str | None:
    """The patch closest to ``position``: a recorded marker or a gate the code evaluated
    (earlier wins a tie)."""
    found = [
        (abs(pos - position), pos > position, op.name)
        for pos, op in history.items()
        if op.kind == PATCH_KIND
    ]
    found += [(abs(pos - position), pos > position, name) for pos, _, name, _ in gates]
    return min(found)[2] if found else None


def window(history: Mapping[int, OperationRecord], position: int) -> list[OperationRecord]:
    lo, hi = position - CONTEXT_WINDOW, position + CONTEXT_WINDOW
    return [history[p] for p in sorted(history) if lo <= p <= hi]


def _code_column(
    trace: Sequence[tuple[int, str, str]], gates: Iterable[Gate]
) -> dict[int, list[str]]:
    """What the code asked for, per position (gates that took no position included)."""
    code: dict[int, list[str]] = {}
    taken = {(pos, name) for pos, kind, name in trace if kind == PATCH_KIND}
    for pos, what, name, returned in gates:
        note = "" if (pos, name) in taken else ", position not taken"
        code.setdefault(pos, []).append(f"{what}({name!r}) -> {returned}{note}")
    for pos, kind, name in trace:
        if kind != PATCH_KIND:
            code.setdefault(pos, []).append(f"{kind} {name!r}")
    return code


def render_window(
    history: Mapping[int, OperationRecord],
    position: int,
    requested: str,
    trace: Sequence[tuple[int, str, str]] = (),
    gates: Iterable[Gate] = (),
) -> str:
    """Recorded operations around ``position`` side by side with what the code asked for."""
    code = _code_column(trace, gates)
    here = [c for c in code.pop(position, []) if c != requested]  # gates evaluated here
    note = f" (after {'; '.join(here)})" if here else ""
    lo, hi = position - CONTEXT_WINDOW, position + CONTEXT_WINDOW
    positions = sorted({p for p in [*history, *code, position] if lo <= p <= hi})
    lines = ["  recorded history around the divergence (position, recorded [version] | code):"]
    for pos in positions:
        op = history.get(pos)
        left = f"{op.kind} {op.name!r} [{op.version or '?'}]" if op else "(nothing)"
        if pos == position:
            lines.append(f"    {pos:>4}  {left}  <-- code asked for {requested}{note}")
        else:
            lines.append(f"    {pos:>4}  {left:<40} | {'; '.join(code.get(pos, []))}".rstrip())
    return "\n".join(lines)


def divergence(
    ctx: _Ctx,
    position: int,
    recorded: OperationRecord,
    kind: str,
    name: str,
    *,
    requested: str | None = None,
    **extra: Any,
) -> NondeterminismError:
    """The error for ``recorded`` at ``position`` where the code asked for ``kind name``."""
    requested = requested or f"{kind} {name!r}"
    trace = getattr(ctx, "trace", ())
    gates = getattr(ctx, "gates", ())
    return NondeterminismError(
        workflow_id=ctx.workflow_id,
        position=position,
        recorded=recorded.describe(),
        requested=requested,
        nearest_patch=nearest_patch(ctx.history, position, gates),
        recorded_version=recorded.version,
        code_version=getattr(ctx, "version", None),
        detail=render_window(ctx.history, position, requested, trace, gates),
        **extra,
    )


def check_match(
    ctx: _Ctx, position: int, recorded: OperationRecord | None, kind: str, name: str
) -> None:
    """Raise NondeterminismError when the recorded operation differs from the request."""
    if recorded is not None and not matches(recorded, kind, name):
        raise divergence(ctx, position, recorded, kind, name)
