"""Output of the ``tether`` CLI: rich tables for people, ``--json`` for scripts.

JSON output is always one valid document on stdout (a list or an object), with stored values
as they were recorded and timestamps as epoch milliseconds, so scripts never parse tables.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import json
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tether.runtime.records import ExecutorRecord, OperationRecord, Status, WorkflowRecord

STATUS_STYLE = {
    Status.SUCCESS: "green",
    Status.ERROR: "red",
    Status.RECOVERY_EXHAUSTED: "red",
    Status.CANCELLED: "yellow",
    Status.PARKED: "magenta",
    Status.PENDING: "cyan",
    Status.ENQUEUED: "blue",
}


# -- JSON -------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """Values JSON lacks (decoded from storage) as their plainest readable form."""
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, BaseException):
        kind = f"{type(value).__module__}.{type(value).__qualname__}"
        return {"type": kind, "message": str(value)}
    return repr(value)


def _plain(value: Any) -> Any:
    if isinstance(value, OperationRecord):
        d = value.to_dict()
        for key in ("output", "error"):  # stored JSON text: emit it as JSON, not as a string
            if d[key] is not None:
                try:
                    d[key] = json.loads(d[key])
                except ValueError:
                    pass
        return d
    if isinstance(value, (WorkflowRecord, ExecutorRecord)):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def to_json(data: Any) -> str:
    return json.dumps(_plain(data), indent=2, default=_jsonable, ensure_ascii=False)


# -- formatting helpers -----------------------------------------------------------------------


def console() -> Console:
    """A console on the current stdout; piped output is not squeezed to 80 columns."""
    tty = sys.stdout.isatty()
    return Console(
        file=sys.stdout,
        width=None if tty else 200,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=False,
    )


def timestamp(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def age(ms: int | None, now_ms: int | None = None) -> str:
    if ms is None:
        return "-"
    seconds = max(0.0, ((now_ms or int(time.time() * 1000)) - ms) / 1000)
    if seconds < 60:
        return f"{seconds:.1f}s ago"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m ago"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h ago"
    return f"{seconds / 86400:.1f}d ago"


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def short(value: Any, limit: int = 60) -> str:
    """A one-line preview of a stored value."""
    text = value if isinstance(value, str) else json.dumps(value, default=_jsonable)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _table(*columns: str, title: str | None = None) -> Table:
    table = Table(
        box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False, show_edge=False
    )
    for col in columns:
        table.add_column(col, no_wrap=col in ("ID", "WORKFLOW ID", "EXECUTOR"))
    return table


def _out(renderable: Any) -> None:
    console().print(renderable)


# -- tables -----------------------------------------------------------------------------------


def workflows(records: Sequence[WorkflowRecord], *, limit: int = 0, offset: int = 0) -> None:
    if not records:
        _out("no workflows match")
        return
    forks = any(r.forked_from for r in records)
    columns = ["WORKFLOW ID", "NAME", "STATUS", "VERSION", "EXECUTOR", "CREATED", "UPDATED"]
    table = _table(*columns, *(["FORKED FROM"] if forks else []))
    for r in records:
        origin = [_origin(r)] if forks else []
        table.add_row(
            r.workflow_id,
            r.name,
            status_text(r.status),
            r.version,
            r.executor_id or "-",
            timestamp(r.created_at),
            age(r.updated_at),
            *origin,
        )
    _out(table)
    if limit and len(records) >= limit:
        _out(f"showing {len(records)} (--limit {limit}); next page: --offset {offset + limit}")


def _origin(r: WorkflowRecord) -> str:
    return f"{r.forked_from} @ {r.forked_from_position}" if r.forked_from else "-"


def _move(m: dict[str, Any]) -> str:
    return (
        f"{m['from_version']} -> {m['to_version']} ({m['kind']}) at {timestamp(m['moved_at'])} "
        f"by {m['moved_by']}"
    )


def workflow(r: WorkflowRecord, moves: Sequence[dict[str, Any]] = ()) -> None:
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


def steps(records: Sequence[OperationRecord], moves: Sequence[dict[str, Any]] = ()) -> None:
    for m in moves:
        _out(f"moved {_move(m)}")
    if not records:
        _out("no steps recorded yet")
        return
    table = _table("POS", "KIND", "NAME", "RESULT", "ATTEMPTS", "VERSION", "COMPLETED")
    for r in records:
        if r.error is not None:
            result = Text("error " + short(_error_summary(r.error)), style="red")
        elif r.child_id is not None:
            result = Text(f"child {r.child_id}")
        else:
            result = Text(short(r.output) if r.output is not None else "-")
        table.add_row(
            str(r.position),
            r.kind,
            r.name,
            result,
            str(r.attempts),
            r.version or "-",
            timestamp(r.completed_at),
        )
    _out(table)


def _error_summary(error_json: str) -> str:
    try:
        data = json.loads(error_json)
    except ValueError:
        return error_json
    if isinstance(data, dict) and "message" in data:
        return f"{str(data.get('type', '')).replace(':', '.')}: {data['message']}"
    return error_json


def executors(records: Sequence[ExecutorRecord]) -> None:
    if not records:
        _out("no live executors (use --all to include stopped ones)")
        return
    table = _table("EXECUTOR", "VERSION", "RUNS", "STATE", "ALIVE", "HOST", "PID", "HEARTBEAT")
    for r in records:
        table.add_row(
            r.executor_id,
            r.version,
            ", ".join(r.runnable_versions),
            r.state,
            Text("yes", style="green") if r.alive else Text("no", style="red"),
            r.host or "-",
            str(r.pid) if r.pid is not None else "-",
            age(r.heartbeat_at),
        )
    _out(table)


def key_values(rows: Iterable[tuple[str, Any]]) -> None:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value if isinstance(value, Text) else str(value))
    _out(table)


def message(text: str) -> None:
    _out(text)
