"""Workflows: list, inspect, cancel, resume, export, migrate between versions, fork."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tether.runtime.errors import ConfigurationError
from tether.runtime.records import OperationRecord, Status, WorkflowRecord
from tether.versioning import history_io
from tether.versioning.migration import MigrationReport

from ..app import Tether
from .records import Record


@dataclasses.dataclass(frozen=True)
class WorkflowDetail(Record):
    """One workflow and its moves between versions (oldest first)."""

    workflow: WorkflowRecord
    moves: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {**self.workflow.to_dict(), "moves": self.moves}


@dataclasses.dataclass(frozen=True)
class WorkflowSteps(Record):
    """A workflow's recorded operations in position order, and its moves between versions."""

    workflow_id: str
    steps: list[OperationRecord]
    moves: list[dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class CancelResult(Record):
    workflow_id: str
    previous_status: str
    status: str
    cancelled: list[str]  # the workflow and its children that this call cancelled


@dataclasses.dataclass(frozen=True)
class ResumeResult(Record):
    workflow_id: str
    previous_status: str
    status: str
    version: str
    resumed: bool  # False: it was open already


@dataclasses.dataclass(frozen=True)
class DeleteResult(Record):
    workflow_id: str
    deleted: list[str]  # the workflow and, unless kept, its descendants


@dataclasses.dataclass(frozen=True)
class StreamEntry(Record):
    """One value of a workflow's stream, at its offset (resume reading from offset + 1)."""

    offset: int
    value: Any


@dataclasses.dataclass(frozen=True)
class ExportResult(Record):
    out: str  # the folder written to
    paths: list[str]  # one <workflow id>.json per workflow


def list_workflows(
    app: Tether,
    *,
    status: Sequence[str] | None = None,
    version: str | None = None,
    name: str | None = None,
    limit: int = 100,
    offset: int = 0,
    id_prefix: str | None = None,
    parent_id: str | None = None,
    queue: str | None = None,
    forked_from: str | None = None,
    created_after: str | dt.datetime | None = None,
    created_before: str | dt.datetime | None = None,
    completed_after: str | dt.datetime | None = None,
    completed_before: str | dt.datetime | None = None,
) -> list[WorkflowRecord]:
    """Workflows newest first, filtered by all the given: status (several allowed), version,
    name, id prefix, parent, queue, forked-from, and created/completed time windows (ISO 8601
    times or datetimes; naive means UTC)."""
    return app.list_workflows(
        status=list(status or []) or None,
        version=version,
        name=name,
        limit=limit,
        offset=offset,
        id_prefix=id_prefix,
        parent_id=parent_id,
        queue=queue,
        forked_from=forked_from,
        created_after=_when(created_after, "created_after"),
        created_before=_when(created_before, "created_before"),
        completed_after=_when(completed_after, "completed_after"),
        completed_before=_when(completed_before, "completed_before"),
    )


def _when(value: str | dt.datetime | None, what: str) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise ConfigurationError(
            f"{what} must be an ISO 8601 time such as 2026-01-31T12:00:00Z, got {value!r}"
        ) from None


def get_workflow(app: Tether, workflow_id: str) -> WorkflowDetail:
    """One workflow: status, version, holder, inputs, output or error, and its moves."""
    return WorkflowDetail(app.get_workflow(workflow_id), app.versions.moves(workflow_id))


def list_steps(app: Tether, workflow_id: str) -> WorkflowSteps:
    """The recorded operations of a workflow, in position order."""
    steps = app.list_steps(workflow_id)
    return WorkflowSteps(workflow_id, steps, app.versions.moves(workflow_id))


def cancel_workflow(app: Tether, workflow_id: str) -> CancelResult:
    """Cancel a workflow and its open children; the executor holding it stops at its next step."""
    before = app.get_workflow(workflow_id)
    changed = app.cancel(workflow_id)
    after = app.get_workflow(workflow_id)
    return CancelResult(workflow_id, before.status, after.status, changed)


def resume_workflow(app: Tether, workflow_id: str) -> ResumeResult:
    """Reopen a cancelled, failed or parked workflow for any executor that runs its version."""
    before = app.get_workflow(workflow_id)
    app.resume(workflow_id)
    after = app.get_workflow(workflow_id)
    resumed = before.status not in Status.RUNNABLE and after.status in Status.RUNNABLE
    return ResumeResult(workflow_id, before.status, after.status, after.version, resumed)


def delete_workflow(app: Tether, workflow_id: str, *, children: bool = True) -> DeleteResult:
    """Delete a finished workflow with its history, messages, events and streams, and its
    descendants unless ``children`` is False (an open one is refused: cancel it first)."""
    return DeleteResult(workflow_id, app.delete_workflow(workflow_id, children=children))


def read_stream(
    app: Tether,
    workflow_id: str,
    key: str,
    *,
    offset: int = 0,
    follow: bool = False,
    timeout: float | None = None,
) -> Iterator[StreamEntry]:
    """The entries of a workflow's stream from ``offset``: those there now, or (``follow``)
    live until the stream ends or ``timeout`` seconds pass with nothing new."""
    values = app.read_stream(workflow_id, key, offset, timeout if follow else 0.0)
    for at, value in enumerate(values, start=offset):
        yield StreamEntry(at, value)


def export_workflows(app: Tether, workflow_ids: Sequence[str], out: Path) -> ExportResult:
    """Write workflow histories as JSON files, to replay in tests (``tether.testing``)."""
    paths = history_io.export(app.store, workflow_ids, out)
    return ExportResult(str(out), [str(p) for p in paths])


def migrate_workflows(
    code: Tether,
    *,
    from_version: str,
    to_version: str,
    workflow_ids: Sequence[str] = (),
    dry_run: bool = False,
) -> MigrationReport:
    """Move open workflows to ``to_version`` (``code``'s), only those that replay on it."""
    return code.versions.migrate(
        from_version=from_version,
        to_version=to_version,
        workflow_ids=list(workflow_ids) or None,
        dry_run=dry_run,
    )


def fork_workflow(
    app: Tether,
    workflow_id: str,
    position: int,
    *,
    version: str | None = None,
    new_workflow_id: str | None = None,
) -> WorkflowRecord:
    """A new workflow from ``workflow_id``'s inputs and history before ``position``."""
    return app.versions.fork(workflow_id, position, version, new_workflow_id=new_workflow_id)
