"""Writing a fork: a new workflow with an existing one's inputs and the history, events and
stream entries recorded before a position (see ``tether.versioning.fork`` for forks onto
another version, which first prove that the history replays there)."""

from __future__ import annotations

import uuid

from sqlalchemy import Connection

from .errors import ConfigurationError, WorkflowConflictError, WorkflowNotFoundError
from .primitives import SET_EVENT
from .records import OperationRecord, WorkflowRecord
from .store import Store

ID_MAX = 255


def check_position(workflow_id: str, from_position: int, history: list[OperationRecord]) -> None:
    if isinstance(from_position, bool) or not isinstance(from_position, int):
        raise ConfigurationError(f"from_position must be an integer, got {from_position!r}")
    if not 0 <= from_position <= len(history):
        raise ConfigurationError(
            f"workflow {workflow_id!r} has {len(history)} recorded operation(s) (positions "
            f"0..{len(history) - 1}): fork from a position in 0..{len(history)} "
            "(see `tether workflows steps`)"
        )


def events_before(prefix: list[OperationRecord]) -> dict[str, str]:
    """The last value each event key got in the copied history."""
    return {op.name: op.output for op in prefix if op.kind == SET_EVENT and op.output is not None}


def write_fork(
    store: Store,
    origin: WorkflowRecord,
    from_position: int,
    target: str,
    history: list[OperationRecord],
    new_workflow_id: str | None = None,
) -> WorkflowRecord:
    """Create the fork on version ``target`` (idempotent for the same ``new_workflow_id``)."""
    workflow_id = origin.workflow_id
    new_id = new_workflow_id or f"{workflow_id}-fork-{uuid.uuid4().hex[:8]}"
    if not isinstance(new_id, str) or not new_id or len(new_id) > ID_MAX:
        raise ConfigurationError(f"invalid workflow id {new_id!r}: use 1-{ID_MAX} characters")
    events = events_before([op for op in history if op.position < from_position])

    def write(conn: Connection) -> bool:
        created = store.lineage.fork(
            conn, origin_id=workflow_id, new_id=new_id, position=from_position, version=target
        )
        if created:
            for key, value in events.items():
                store.messages.set_event(conn, new_id, key, value)
        return created

    # Insert-if-absent: a repeat whose first commit was acknowledged to no one finds the fork
    # made (not created, and checked below like any existing one).
    created = store.db.writing(write, what="fork a workflow")
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


def fork_same_version(
    store: Store, workflow_id: str, from_position: int, new_workflow_id: str | None = None
) -> WorkflowRecord:
    """A fork on the origin's own version (its history is that code's own: no replay)."""
    origin = store.workflows.get(workflow_id)
    if origin is None:
        raise WorkflowNotFoundError(f"no workflow {workflow_id!r} in app {store.app_name!r}")
    history = store.operations.history(workflow_id)
    check_position(workflow_id, from_position, history)
    return write_fork(store, origin, from_position, origin.version, history, new_workflow_id)
