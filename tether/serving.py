"""What the HTTP surface does — health, wake, start and get a workflow — as plain functions.

``tether serve`` and ``tether.asgi`` only parse requests and render these results, so each
operation exists once. Errors are ``RequestError`` with the HTTP status that fits and a
message that says what was wrong; a bad request never starts a workflow.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from tether.rollout.actions import INTERNAL
from tether.runtime.clock import now_ms
from tether.runtime.errors import (
    ConfigurationError,
    SerializationError,
    TetherError,
    WorkflowConflictError,
)
from tether.runtime.records import ExecutorRecord, WorkflowRecord

from .app import Tether


class RequestError(TetherError):
    """A request the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"error": str(self), **self.details}


# -- health -----------------------------------------------------------------------------------


def health_verdict(
    *,
    launched: bool,
    draining: bool,
    db_error: str | None,
    record: ExecutorRecord | None,
    now: int,
    lease_timeout_ms: int,
) -> str | None:
    """None when the instance is healthy, else the reason it is not (pure; table-tested)."""
    if not launched:
        return "the app is not launched yet"
    if draining:
        return "draining: this instance is shutting down and takes no new work"
    if db_error is not None:
        return f"database unreachable: {db_error}"
    if record is None:
        return "this executor is not registered in the database"
    if record.state != "RUNNING":
        return f"this executor is {record.state}"
    age = now - record.heartbeat_at
    if age > lease_timeout_ms:
        return f"no heartbeat for {age / 1000:.1f} s (lease timeout {lease_timeout_ms / 1000:g} s)"
    return None


def health(app: Tether) -> dict[str, Any]:
    """``{"ok", "reason", "version", "executor_id"}``: executor heartbeating, database up."""
    engine = app._engine
    lease_ms = int(app.settings.lease_timeout * 1000)
    record: ExecutorRecord | None = None
    db_error: str | None = None
    if engine is not None and not engine.draining:
        try:
            record = next(
                (
                    e
                    for e in app.executors(include_stopped=True)
                    if e.executor_id == engine.executor_id
                ),
                None,
            )
        except SQLAlchemyError as exc:
            db_error = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    reason = health_verdict(
        launched=engine is not None,
        draining=engine is not None and engine.draining,
        db_error=db_error,
        record=record,
        now=now_ms(),
        lease_timeout_ms=lease_ms,
    )
    return {
        "ok": reason is None,
        "reason": reason,
        "version": engine.version if engine is not None else None,
        "executor_id": engine.executor_id if engine is not None else None,
    }


# -- wake -------------------------------------------------------------------------------------


def wake(app: Tether) -> dict[str, Any]:
    """Run a recovery round now: ``{"claimed", "workflow_ids", "version", "executor_id"}``."""
    ids = app.recover_now()
    return {
        "claimed": len(ids),
        "workflow_ids": ids,
        "version": app.version,
        "executor_id": app.executor_id,
    }


# -- start and get ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StartRequest:
    args: list[Any]
    kwargs: dict[str, Any]
    workflow_id: str | None = None


def parse_start(body: bytes) -> StartRequest:
    """``{"args": [...], "kwargs": {...}, "workflow_id": "..."}``, every key optional."""
    if not body.strip():
        return StartRequest([], {})
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError(400, 'the body must be a JSON object: {"args": [], "kwargs": {}}')
    unknown = sorted(set(data) - {"args", "kwargs", "workflow_id"})
    if unknown:
        raise RequestError(400, f"unknown keys {unknown}: use args, kwargs and workflow_id")
    args, kwargs, wid = data.get("args", []), data.get("kwargs", {}), data.get("workflow_id")
    if not isinstance(args, list):
        raise RequestError(400, '"args" must be a JSON array')
    if not isinstance(kwargs, dict):
        raise RequestError(400, '"kwargs" must be a JSON object')
    if wid is not None and (not isinstance(wid, str) or not wid):
        raise RequestError(400, '"workflow_id" must be a non-empty string')
    return StartRequest(args, kwargs, wid)


def start(app: Tether, name: str, request: StartRequest) -> dict[str, Any]:
    """Start workflow ``name`` on this instance; ``{"workflow_id", "version"}``."""
    # tether's own workflows (the rollout controller, its drain) are not started over HTTP.
    known = sorted(n for n in app.registry.workflows if not n.startswith(INTERNAL))
    wdef = app.registry.workflows.get(name) if name in known else None
    if wdef is None:
        raise RequestError(404, f"no workflow named {name!r}; known: {known}", known=known)
    try:
        inspect.signature(wdef.fn).bind(*request.args, **request.kwargs)
    except TypeError as exc:
        raise RequestError(400, f"bad arguments for workflow {name!r}: {exc}") from None
    try:
        handle = app.start_workflow(
            name, *request.args, workflow_id=request.workflow_id, **request.kwargs
        )
    except WorkflowConflictError as exc:
        raise RequestError(409, str(exc)) from None
    except (ConfigurationError, SerializationError) as exc:
        raise RequestError(400, str(exc)) from None
    except TetherError as exc:
        if app.engine.draining:
            raise RequestError(503, str(exc)) from None
        raise
    rec = app.store.workflows.get(handle.workflow_id)
    version = rec.version if rec is not None else app.version
    return {"workflow_id": handle.workflow_id, "version": version}


def describe(rec: WorkflowRecord) -> dict[str, Any]:
    """The parts of a workflow a caller polls for."""
    return {
        "workflow_id": rec.workflow_id,
        "name": rec.name,
        "status": rec.status,
        "version": rec.version,
        "output": rec.output,
        "error": rec.error,
        "executor_id": rec.executor_id,
        "queue_name": rec.queue_name,
        "created_at": rec.created_at,
        "updated_at": rec.updated_at,
        "completed_at": rec.completed_at,
    }


def get(app: Tether, workflow_id: str) -> dict[str, Any]:
    rec = app.store.workflows.get(workflow_id)
    if rec is None:
        raise RequestError(404, f"no workflow {workflow_id!r} in app {app.app_name!r}")
    return describe(rec)
