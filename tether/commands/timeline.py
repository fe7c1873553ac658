"""One workflow as a timeline: its record, moves, children, and every recorded step with the
executor and version that ran it, its attempts, duration, output or error."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from sqlalchemy import select

from tether.runtime.records import OperationRecord, WorkflowRecord
from tether.runtime.store.schema import operations as O
from tether.runtime.store.schema import workflows as W

from ..app import Tether
from .records import Record


@dataclasses.dataclass(frozen=True)
class TimelineStep(Record):
    position: int
    kind: str
    name: str
    version: str | None  # the version whose code recorded it
    executor_id: str | None  # the executor that recorded it
    attempts: int
    started_at: int | None
    completed_at: int | None
    duration_ms: int | None
    output: Any  # decoded from its stored JSON
    error: Any
    child_id: str | None


@dataclasses.dataclass(frozen=True)
class WorkflowTimeline(Record):
    workflow: WorkflowRecord
    moves: list[dict[str, Any]]
    steps: list[TimelineStep]
    children: list[WorkflowRecord]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.workflow.to_dict(),
            "moves": self.moves,
            "steps": [s.to_dict() for s in self.steps],
            "children": [c.to_dict() for c in self.children],
        }


def _decode(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def step_of(op: OperationRecord, executor_id: str | None) -> TimelineStep:
    duration = None
    if op.started_at is not None and op.completed_at is not None:
        duration = max(0, op.completed_at - op.started_at)
    return TimelineStep(
        position=op.position,
        kind=op.kind,
        name=op.name,
        version=op.version,
        executor_id=executor_id,
        attempts=op.attempts,
        started_at=op.started_at,
        completed_at=op.completed_at,
        duration_ms=duration,
        output=_decode(op.output),
        error=_decode(op.error),
        child_id=op.child_id,
    )


def workflow_timeline(app: Tether, workflow_id: str) -> WorkflowTimeline:
    """The workflow, its moves, its children and its steps in position order."""
    record = app.get_workflow(workflow_id)
    ops = app.list_steps(workflow_id)
    holders = select(O.c.position, O.c.executor_id).where(
        O.c.app_name == app.app_name, O.c.workflow_id == workflow_id
    )
    kids = (
        select(W.c.workflow_id)
        .where(W.c.app_name == app.app_name, W.c.parent_id == workflow_id)
        .order_by(W.c.created_at)
        .limit(200)
    )
    by_position = {
        row[0]: row[1] for row in app.store.db.reading(lambda c: c.execute(holders).all())
    }
    child_ids = [r[0] for r in app.store.db.reading(lambda c: c.execute(kids).all())]
    children = [c for c in (app.store.workflows.get(cid) for cid in child_ids) if c is not None]
    return WorkflowTimeline(
        record,
        app.versions.moves(workflow_id),
        [step_of(op, by_position.get(op.position)) for op in ops],
        children,
    )
