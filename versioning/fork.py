"""Forking: a new workflow with an existing one's inputs and history up to a position.

The fork is PENDING and held by nobody, so any executor of its version claims it; it replays
the copied history and runs on from the position. Events published in the copied prefix
are published for the fork too. A fork onto another version is allowed only when the copied
history replays cleanly on that version's code (checked in the calling process, which must
run it); on its own version the history is the code's own.
"""

from __future__ import annotations

from tether.runtime import forks
from tether.runtime.errors import ConfigurationError, WorkflowNotFoundError
from tether.runtime.records import WorkflowRecord
from tether.runtime.store import Store

from . import registry
from .migration import Replay, check_target_code, describe_replay


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
    forks.check_position(workflow_id, from_position, history)
    target = registry.resolve(store, version) if version is not None else origin.version
    if target != origin.version:
        _check_replays(origin, from_position, target, code_version or "", replay)
    return forks.write_fork(store, origin, from_position, target, history, new_workflow_id)
