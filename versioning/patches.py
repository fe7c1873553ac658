"""Patch gates: change workflow code while runs started on the old code are still in flight.

    if tether.patch("fees-v2"):
        charge_with_fees(order)   # new code
    else:
        charge(order)             # the path runs that passed here before the change took

The decision at a position (DESIGN §5), in :func:`decide`:

=================================================  =======  =================
history at this position                           returns  position consumed
=================================================  =======  =================
nothing (a new run, or an old one not this far)    True     yes, marker recorded
the marker of this patch                           True     yes
another operation (passed here without the patch)  False    no
=================================================  =======  =================

``deprecate_patch(name)`` always returns True, records nothing, and consumes the position
only when this patch's marker is there: the second step of the lifecycle patch → deprecate →
remove, once no open run takes the old path (see ``patch_report``). Both are memoized per run
and name, so a second call answers the same without touching positions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tether.runtime.context import WorkflowContext, current
from tether.runtime.errors import ConfigurationError
from tether.runtime.history import PATCH_KIND
from tether.runtime.records import OperationRecord

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/\-]*$")
MAX_NAME = 128


@dataclass(frozen=True, slots=True)
class Decision:
    returns: bool  # what patch() / deprecate_patch() returns
    consume: bool  # the gate takes the position (the next operation goes one further)
    record: bool  # a marker is recorded at the position
    # False: the history passed here on code without the patch. None (deprecate_patch over
    # another operation): that, or a run that passed here on deprecated code; the next
    # operation tells (a replay resolves it).
    new_path: bool | None


def decide(
    recorded_kind: str | None, recorded_name: str | None, name: str, deprecated: bool
) -> Decision:
    """The §5 table; ``recorded_kind`` is None when nothing is recorded at the position."""
    if recorded_kind is None:
        return Decision(True, consume=not deprecated, record=not deprecated, new_path=True)
    if recorded_kind == PATCH_KIND and recorded_name == name:
        return Decision(True, consume=True, record=False, new_path=True)
    return Decision(deprecated, consume=False, record=False, new_path=None if deprecated else False)


def check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > MAX_NAME:
        raise ConfigurationError(
            f"invalid patch name {name!r}: use 1-{MAX_NAME} characters (letters, digits, "
            "'_', '.', ':', '/', '-'), starting with a letter, digit or '_', e.g. 'fees-v2'"
        )
    return name


def patch(name: str) -> bool:
    """True when this run takes the new code at this point; False on a run that passed here
    on code without the patch."""
    return _gate(current("tether.patch()"), name, deprecated=False)


def deprecate_patch(name: str) -> bool:
    """Always True: the old path is gone. Steps over this patch's marker in older histories."""
    return _gate(current("tether.deprecate_patch()"), name, deprecated=True)


def _gate(ctx: WorkflowContext, name: str, *, deprecated: bool) -> bool:
    returns = ctx.patch_returns
    if type(name) is str and name in returns:  # only checked names get there
        return returns[name]
    check_name(name)
    if ctx.diverged is not None:
        raise ctx.diverged
    what = "deprecate_patch" if deprecated else "patch"
    if ctx.in_flight:
        raise ConfigurationError(
            f"tether.{what}({name!r}) in workflow {ctx.workflow_id!r} was called while "
            f"operations at positions {sorted(ctx.in_flight)} are still running (async tasks "
            "started and not yet awaited), so where its marker lands would depend on "
            "scheduling: call it before starting them or after awaiting them"
        )
    pos = ctx.next_position
    recorded = ctx.peek()
    d = decide(
        recorded.kind if recorded else None, recorded.name if recorded else None, name, deprecated
    )
    ctx.patch_paths[name] = (pos, d.new_path)
    ctx.gates.append((pos, what, name, d.returns))
    if d.record:
        ctx.recorder.lookup(ctx, pos, PATCH_KIND, name)  # a replay stops here: nothing recorded
        ctx.check_interrupt()
    if d.consume:
        ctx.reserve()
        ctx.trace.append((pos, PATCH_KIND, name))
    if d.record:
        ctx.record_behind(OperationRecord(pos, PATCH_KIND, name))
    returns[name] = d.returns
    return d.returns
