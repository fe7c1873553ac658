"""What the ``tether`` CLI does, as plain functions that Python code can call too.

Every function works on the database alone: none launches the app, so inspecting or
administering a fleet never registers an executor or runs a workflow in the calling process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from tether.runtime.errors import ConfigurationError
from tether.runtime.identity import resolve_executor_id
from tether.runtime.records import ExecutorRecord, OperationRecord, Status, WorkflowRecord
from tether.runtime.store import Database, redact
from tether.runtime.store import migrate as migrations

from .app import Tether
from .config import DEFAULT_DATABASE_URL


def open_app(*, app_name: str | None = None, database_url: str | None = None) -> Tether:
    """A ``Tether`` for administration: no signal handlers, never launched here."""
    if not (app_name or os.environ.get("TETHER_APP_NAME")):
        raise ConfigurationError("no app name: pass --app NAME or set TETHER_APP_NAME")
    return Tether(
        app_name=app_name,
        database_url=database_url,
        install_signal_handlers=False,
        migrate=False,
    )


def _checked(app: Tether) -> Tether:
    """Fail with the "run `tether migrate`" explanation rather than a missing-table error."""
    app.store.check_schema()
    return app


# -- workflows --------------------------------------------------------------------------------


def list_workflows(
    app: Tether,
    *,
    status: Sequence[str] | None = None,
    version: str | None = None,
    name: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[WorkflowRecord]:
    """Workflows newest first, filtered by any of status (several allowed), version, name."""
    return _checked(app).list_workflows(
        status=list(status or []) or None, version=version, name=name, limit=limit, offset=offset
    )


def get_workflow(app: Tether, workflow_id: str) -> WorkflowRecord:
    return _checked(app).get_workflow(workflow_id)


def list_steps(app: Tether, workflow_id: str) -> list[OperationRecord]:
    """The recorded operations of a workflow, in position order."""
    return _checked(app).list_steps(workflow_id)


def cancel_workflow(app: Tether, workflow_id: str) -> dict[str, Any]:
    """Cancel a workflow and its open children; the executor holding it stops at its next step."""
    before = _checked(app).get_workflow(workflow_id)
    changed = app.cancel(workflow_id)
    return {
        "workflow_id": workflow_id,
        "previous_status": before.status,
        "status": app.get_workflow(workflow_id).status,
        "cancelled": changed,
    }


def resume_workflow(app: Tether, workflow_id: str) -> dict[str, Any]:
    """Reopen a cancelled, failed or parked workflow for any executor that runs its version."""
    before = _checked(app).get_workflow(workflow_id)
    app.resume(workflow_id)
    after = app.get_workflow(workflow_id)
    return {
        "workflow_id": workflow_id,
        "previous_status": before.status,
        "status": after.status,
        "version": after.version,
        "resumed": before.status not in Status.OPEN and after.status in Status.OPEN,
    }


# -- fleet ------------------------------------------------------------------------------------


def list_executors(app: Tether, *, include_stopped: bool = False) -> list[ExecutorRecord]:
    """Live executors (those heartbeating within the lease timeout); all with include_stopped."""
    return _checked(app).executors(include_stopped=include_stopped)


# -- database and identity --------------------------------------------------------------------


def migrate(database_url: str | None = None) -> dict[str, Any]:
    """Bring the tether schema to this code's revision (shared by all apps in the database)."""
    url = database_url or os.environ.get("TETHER_DATABASE_URL") or DEFAULT_DATABASE_URL
    db = Database(url, pool_size=1)
    try:
        before = migrations.current_revision(db)
        applied = migrations.migrate(db)
        revision = migrations.current_revision(db)
    finally:
        db.close()
    return {
        "database_url": redact(url),
        "previous_revision": before,
        "revision": revision,
        "applied": applied,
    }


def _executor_id_source(settings_id: str | None, resolved: str) -> str:
    if settings_id:
        return "argument"
    if os.environ.get("TETHER_EXECUTOR_ID"):
        return "TETHER_EXECUTOR_ID"
    if os.environ.get("K_SERVICE") and not resolved.startswith("ex-"):
        return "Cloud Run instance id"
    return "random: new for every process"


def info(app: Tether) -> dict[str, Any]:
    """How a process configured like this one would identify itself, and the schema state.

    The CLI registers no workflows, so a version resolved from the source hash is the hash
    of none: name versions with TETHER_APP_VERSION (or K_REVISION on Cloud Run) to compare.
    """
    from tether import __version__

    version, source = app.resolve_version()
    executor_id = resolve_executor_id(app.settings.executor_id)
    out: dict[str, Any] = {
        "app_name": app.app_name,
        "version": version,
        "version_source": source,
        "executor_id": executor_id,
        "executor_id_source": _executor_id_source(app.settings.executor_id, executor_id),
        "database_url": redact(app.settings.database_url),
        "schema_revision": None,
        "schema_head": migrations.head(),
        "schema_status": "unknown",
        "tether_version": __version__,
    }
    try:
        revision = migrations.current_revision(app.store.db)
    except SQLAlchemyError as exc:
        out["schema_status"] = "unreachable: " + first_line(str(exc))
        return out
    out["schema_revision"] = revision
    if revision is None:
        out["schema_status"] = "missing: run `tether migrate`"
    elif revision < migrations.head():
        out["schema_status"] = "behind: run `tether migrate`"
    elif revision > migrations.head():
        out["schema_status"] = "ahead of this code"
    else:
        out["schema_status"] = "current"
    return out


def first_line(text: str) -> str:
    """The first non-empty line: database drivers put SQL and links on the following ones."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return text.strip()
