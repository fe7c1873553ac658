"""The fleet and the database: executors, schema migration, and how a process identifies."""

from __future__ import annotations

import dataclasses
import os

from sqlalchemy.exc import SQLAlchemyError

from tether.runtime.clock import now_ms
from tether.runtime.identity import resolve_executor_id
from tether.runtime.records import ExecutorRecord
from tether.runtime.store import Database, redact
from tether.runtime.store import migrate as migrations

from ..app import Tether
from ..config import DEFAULT_DATABASE_URL
from .records import Record
from .session import first_line, sqlite_file_missing


@dataclasses.dataclass(frozen=True)
class MigrateResult(Record):
    database_url: str  # with any password redacted
    previous_revision: int | None
    revision: int | None
    applied: list[int]  # the revisions this call applied


@dataclasses.dataclass(frozen=True)
class Info(Record):
    """How a process configured like this one would identify itself, and the schema state."""

    app_name: str
    version: str
    version_source: str
    executor_id: str
    executor_id_source: str
    database_url: str  # with any password redacted
    schema_revision: int | None
    schema_head: int
    schema_status: str  # current, missing/behind (run `tether migrate`), ahead, unreachable
    tether_version: str


# How long an executor that lost the database stays in the default listing: long enough to
# be seen and looked into, not forever if it died cut off (it never writes STOPPED then).
DISCONNECTED_SHOWN_MS = 3600 * 1000


def list_executors(app: Tether, *, include_stopped: bool = False) -> list[ExecutorRecord]:
    """Live executors (those heartbeating within the lease timeout), and those that said they
    lost the database within the last hour (alive, maybe, but unable to heartbeat: an
    operator needs to see them); all with include_stopped."""
    every = app.executors(include_stopped=True)
    if include_stopped:
        return every
    now = now_ms()
    return [
        r
        for r in every
        if r.alive or (r.state == "DISCONNECTED" and now - r.heartbeat_at <= DISCONNECTED_SHOWN_MS)
    ]


def migrate(database_url: str | None = None) -> MigrateResult:
    """Bring the tether schema to this code's revision (shared by all apps in the database)."""
    url = database_url or os.environ.get("TETHER_DATABASE_URL") or DEFAULT_DATABASE_URL
    db = Database(url, pool_size=1)
    try:
        before = migrations.current_revision(db)
        applied = migrations.migrate(db)
        revision = migrations.current_revision(db)
    finally:
        db.close()
    return MigrateResult(redact(url), before, revision, list(applied))


def info(app: Tether, code: Tether | None = None) -> Info:
    """How a process configured like this one would identify itself, and the schema state.

    A version named by the hash of the workflow sources needs those sources: ``code`` (the
    app of ``--module``). Without it only an explicit name (TETHER_APP_VERSION, K_REVISION)
    can be shown.
    """
    from tether import __version__

    version, source = (code or app).resolve_version()
    if code is None and source == "source hash":
        version, source = "-", "no module: pass --module your.module:app to hash its workflows"
    elif code is not None and source == "source hash":
        source = f"source hash of the {len(code.registry.workflows)} workflow(s) in --module"
    executor_id = resolve_executor_id(app.settings.executor_id)
    revision, status = _schema(app)
    return Info(
        app_name=app.app_name,
        version=version,
        version_source=source,
        executor_id=executor_id,
        executor_id_source=_executor_id_source(app.settings.executor_id, executor_id),
        database_url=redact(app.settings.database_url),
        schema_revision=revision,
        schema_head=migrations.head(),
        schema_status=status,
        tether_version=__version__,
    )


def _schema(app: Tether) -> tuple[int | None, str]:
    if sqlite_file_missing(app.settings.database_url):
        return None, "missing: run `tether migrate` (no database file yet)"
    try:
        revision = migrations.current_revision(app.store.db)
    except SQLAlchemyError as exc:
        return None, "unreachable: " + first_line(str(exc))
    if revision is None:
        return None, "missing: run `tether migrate`"
    if revision < migrations.head():
        return revision, "behind: run `tether migrate`"
    if revision > migrations.head():
        return revision, "ahead of this code"
    return revision, "current"


def _executor_id_source(settings_id: str | None, resolved: str) -> str:
    if settings_id:
        return "argument"
    if os.environ.get("TETHER_EXECUTOR_ID"):
        return "TETHER_EXECUTOR_ID"
    if os.environ.get("K_SERVICE") and not resolved.startswith("ex-"):
        return "Cloud Run instance id"
    return "random: new for every process"
