"""Forking: a new workflow with an existing one's inputs and history up to a position.

The fork is PENDING and held by nobody, so any executor of its version claims it; it replays
the copied history and runs on from the position. Events published in the copied prefix
are published for the fork too. A fork onto another version is allowed only when the copied
history replays cleanly on that version's code (checked in the calling process, which must
run it); on its own version the history is the code's own.
"""

from __future__ import annotations

import uuid

from tether.runtime.errors import ConfigurationError, WorkflowConflictError, WorkflowNotFoundError
from tether.runtime.primitives import SET_EVENT
from tether.runtime.records import OperationRecord, WorkflowRecord
from tether.runtime.store import Store

from . import registry
from .migration import Replay, check_target_code, describe_replay

ID_MAX = 255


def _events(prefix: list[OperationRecord]) -> dict[str, str]:
    """The last value each event key got in the copied history."""
    return {op.name: op.output for op in prefix if op.kind == SET_EVENT and op.output is not None}


def _check_replays(
    origin: WorkflowRecord, position: int, target: str, code_version: str, replay: Replay | None
) -> None:
    check_target_code(code_version, target, "forking onto")
    if replay is None:
        raise ConfigurationError("forking onto another version needs a replay of the history")
    res = replay(origin.workflow_id)
    if res.outcome == "passed":
        return
    diverged_at = res.divergence.position if res.divergence is not None else -1
    if res.outcome == "diverged" and diverged_at >= position:
        return  # the copied prefix stops before the divergence
    _, reason, _ = describe_replay(res)
    raise ConfigurationError(
        f"cannot fork {origin.workflow_id!r} onto {target!r} from position {position}: its "
        f"history does not replay on {target!r}'s code ({reason}); fork from an earlier "
        "position, guard the change with tether.patch(...), or fork on its own version"
    )


def fork(
    store: Store,
    workflow_id: str,
    from_position: int,
    *,
    version: str | None = None,
    new_workflow_id: str | None = None,
    code_version: str | None = None,
    replay: Replay | None = None,
) -> WorkflowRecord:
    """Create the fork (idempotent for the same ``new_workflow_id``) and return its record."""
    origin = store.workflows.get(workflow_id)
    if origin is None:
        raise WorkflowNotFoundError(f"no workflow {workflow_id!r} in app {store.app_name!r}")
    history = store.operations.history(workflow_id)
    if isinstance(from_position, bool) or not isinstance(from_position, int):
        raise ConfigurationError(f"from_position must be an integer, got {from_position!r}")
    if not 0 <= from_position <= len(history):
        raise ConfigurationError(
            f"workflow {workflow_id!r} has {len(history)} recorded operation(s) (positions "
            f"0..{len(history) - 1}): fork from a position in 0..{len(history)} "
            "(see `tether workflows steps`)"
        )
    target = registry.resolve(store, version) if version is not None else origin.version
    if target != origin.version:
        _check_replays(origin, from_position, target, code_version or "", replay)
    new_id = new_workflow_id or f"{workflow_id}-fork-{uuid.uuid4().hex[:8]}"
    if not isinstance(new_id, str) or not new_id or len(new_id) > ID_MAX:
        raise ConfigurationError(f"invalid workflow id {new_id!r}: use 1-{ID_MAX} characters")
    events = _events([op for op in history if op.position < from_position])

    with store.db.write() as conn:
        created = store.lineage.fork(
            conn, origin_id=workflow_id, new_id=new_id, position=from_position, version=target
        )
        if created:
            for key, value in events.items():
                store.messages.set_event(conn, new_id, key, value)
    rec = store.workflows.get(new_id)
    assert rec is not None
    if not created and (
        rec.forked_from != workflow_id
        or rec.forked_from_position != from_position
        or rec.version != target
    ):
        origin_text = (
            f"a fork of {rec.forked_from!r} at position {rec.forked_from_position}"
            if rec.forked_from
            else "not a fork"
        )
        raise WorkflowConflictError(
            f"workflow id {new_id!r} already exists ({origin_text}, version {rec.version!r}): "
            "choose another id for this fork"
        )
    return rec
