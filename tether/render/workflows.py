"""Workflows as tables and one-line outcomes: list, get, steps, cancel, resume, export,
migrate and fork."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.text import Text

from tether.runtime.records import Status

from ..commands import (
    CancelResult,
    DeleteResult,
    ExportResult,
    MigrationReport,
    ResumeResult,
    StreamEntry,
    WorkflowDetail,
    WorkflowRecord,
    WorkflowSteps,
)
from .base import age, key_values, message, out, short, status_text, table, timestamp


def workflows(records: Sequence[WorkflowRecord], *, limit: int = 0, offset: int = 0) -> None:
    if not records:
        out("no workflows match")
        return
    forks = any(r.forked_from for r in records)
    columns = ["WORKFLOW ID", "NAME", "STATUS", "VERSION", "EXECUTOR", "CREATED", "UPDATED"]
    grid = table(*columns, *(["FORKED FROM"] if forks else []))
    for r in records:
        origin = [_origin(r)] if forks else []
        grid.add_row(
            r.workflow_id,
            r.name,
            status_text(r.status),
            r.version,
            r.executor_id or "-",
            timestamp(r.created_at),
            age(r.updated_at),
            *origin,
        )
    out(grid)
    if limit and len(records) >= limit:
        out(f"showing {len(records)} (--limit {limit}); next page: --offset {offset + limit}")


def _origin(r: WorkflowRecord) -> str:
    return f"{r.forked_from} @ {r.forked_from_position}" if r.forked_from else "-"


def _move(m: dict[str, Any]) -> str:
    return (
        f"{m['from_version']} -> {m['to_version']} ({m['kind']}) at {timestamp(m['moved_at'])} "
        f"by {m['moved_by']}"
    )


def workflow(detail: WorkflowDetail) -> None:
    r, moves = detail.workflow, detail.moves
    rows: list[tuple[str, Any]] = [
        ("workflow id", r.workflow_id),
        ("name", r.name),
        ("status", status_text(r.status)),
        ("version", r.version),
        ("executor", r.executor_id or "- (released)"),
        ("lease epoch", r.lease_epoch),
        ("parent", r.parent_id or "-"),
        ("queue", r.queue_name or "-"),
        *([("forked from", f"{_origin(r)} (copied history before it)")] if r.forked_from else []),
        *[("moved", _move(m)) for m in moves],
        ("recovery attempts", r.recovery_attempts),
        ("created", timestamp(r.created_at)),
        ("started", timestamp(r.started_at)),
        ("updated", timestamp(r.updated_at)),
        ("completed", timestamp(r.completed_at)),
        ("inputs", short(r.inputs, 200)),
    ]
    if r.status == Status.SUCCESS:
        rows.append(("output", short(r.output, 200)))
    if r.error:
        kind = str(r.error.get("type", "")).replace(":", ".")
        rows.append(("error", f"{kind}: {r.error.get('message', '')}".strip(": ")))
    key_values(rows)


def steps(report: WorkflowSteps) -> None:
    records = report.steps
    for m in report.moves:
        out(f"moved {_move(m)}")
    if not records:
        out("no steps recorded yet")
        return
    grid = table("POS", "KIND", "NAME", "RESULT", "ATTEMPTS", "VERSION", "STARTED", "COMPLETED")
    for r in records:
        if r.error is not None:
            result = Text("error " + short(_error_summary(r.error)), style="red")
        elif r.child_id is not None:
            result = Text(f"child {r.child_id}")
        else:
            result = Text(short(r.output) if r.output is not None else "-")
        grid.add_row(
            str(r.position),
            r.kind,
            r.name,
            result,
            str(r.attempts),
            r.version or "-",
            timestamp(r.started_at),
            timestamp(r.completed_at),
        )
    out(grid)


def _error_summary(error_json: str) -> str:
    try:
        data = json.loads(error_json)
    except ValueError:
        return error_json
    if isinstance(data, dict) and "message" in data:
        return f"{str(data.get('type', '')).replace(':', '.')}: {data['message']}"
    return error_json


def stream_entry(entry: StreamEntry) -> None:
    out(Text(f"{entry.offset}  {json.dumps(entry.value, ensure_ascii=False)}"))


def deleted(result: DeleteResult) -> None:
    children = len(result.deleted) - 1
    extra = f" and {children} descendant workflow(s)" if children else ""
    message(f"deleted {result.workflow_id}{extra}")


def cancelled(result: CancelResult) -> None:
    ids = result.cancelled
    if not ids:
        message(f"nothing to cancel: {result.workflow_id} is {result.previous_status}")
        return
    children = len(ids) - (1 if result.workflow_id in ids else 0)
    extra = f" and {children} child workflow(s)" if children else ""
    message(f"cancelled {result.workflow_id}{extra}")


def resumed(result: ResumeResult) -> None:
    wid = result.workflow_id
    if not result.resumed:
        message(f"nothing to resume: {wid} is {result.previous_status}")
        return
    message(
        f"resumed {wid} ({result.previous_status} -> {result.status}); an executor "
        f"running version {result.version} will continue it"
    )


def exported(result: ExportResult) -> None:
    message(f"exported {len(result.paths)} histories to {result.out}: " + ", ".join(result.paths))


def migration(report: MigrationReport) -> None:
    verb = "would move" if report.dry_run else "moved"
    if report.results:
        grid = table("WORKFLOW ID", "NAME", "STATUS", "OUTCOME", "REASON")
        for r in report.results:
            style = "green" if r.moved else ("" if r.outcome == "nothing_to_do" else "yellow")
            grid.add_row(
                r.workflow_id,
                r.name or "-",
                status_text(r.status) if r.status else "-",
                Text(r.outcome, style=style),
                r.reason,
            )
        out(grid)
    message(
        f"{verb} {len(report.moved)} workflow(s) from {report.from_version} to "
        f"{report.to_version}; left {len(report.left)} where they are"
    )


def forked(rec: WorkflowRecord) -> None:
    message(
        f"forked {rec.forked_from} at position {rec.forked_from_position} as "
        f"{rec.workflow_id} ({rec.status}, version {rec.version}); an executor running "
        f"{rec.version} will run it"
    )
