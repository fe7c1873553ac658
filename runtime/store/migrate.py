"""Forward-only numbered migrations.

A fresh database gets the current schema from ``schema.metadata`` and is stamped at the head
revision; an existing one runs, in order, every migration module in ``migrations/`` numbered
above its stamp (``0002_add_x.py`` defines ``upgrade(conn, dialect)``). A test checks that
both paths produce the same schema. Runs under a lock (Postgres advisory lock, SQLite's
writer lock) so a fleet starting together migrates once.

Old and new code share the database during a rollout, so the database also records
``min_code``: the oldest code revision that can still use it. Code older than that refuses
to start with an explanation; code newer than the schema asks for ``tether migrate``.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

from sqlalchemy import Column, Connection, Table, inspect, select, text

from ..errors import SchemaError
from . import migrations as _migrations_pkg
from .database import Database
from .schema import metadata, schema_info
from .views import create_views

_LOCK_KEY = 0x7E7E_0001


def _migrations() -> list[tuple[int, ModuleType]]:
    found = []
    for info in pkgutil.iter_modules(_migrations_pkg.__path__):
        number, _, _ = info.name.partition("_")
        if number.isdigit():
            found.append(
                (int(number), importlib.import_module(f"{_migrations_pkg.__name__}.{info.name}"))
            )
    return sorted(found, key=lambda x: x[0])


def head() -> int:
    """The schema revision this code writes (1 = the initial schema)."""
    return max([1, *[n for n, _ in _migrations()]])


def min_code_for(revision: int) -> int:
    """Oldest code revision that can run on a schema at ``revision`` (from MIN_CODE)."""
    required = 1
    for number, module in _migrations():
        if number <= revision:
            required = max(required, getattr(module, "MIN_CODE", 1))
    return required


def create_table_if_missing(conn: Connection, table: Table) -> None:
    """For migrations: create ``table`` (as the migration defines it) unless it exists."""
    table.create(conn, checkfirst=True)


def add_column_if_missing(conn: Connection, table: str, column: Column[Any]) -> None:
    """For migrations: add ``column`` (as the migration defines it) to an existing table."""
    if column.name in {c["name"] for c in inspect(conn).get_columns(table)}:
        return
    ddl_type = column.type.compile(dialect=conn.dialect)
    default = ""
    if column.server_default is not None:
        default = f" DEFAULT {column.server_default.arg.text}"  # type: ignore[attr-defined]
    null = "" if column.nullable else " NOT NULL"
    conn.exec_driver_sql(
        f'ALTER TABLE {table} ADD COLUMN "{column.name}" {ddl_type}{default}{null}'
    )


def _read(conn: Connection) -> dict[str, str]:
    if not inspect(conn).has_table(schema_info.name):
        return {}
    return {r.key: r.value for r in conn.execute(select(schema_info.c.key, schema_info.c.value))}


def _number(info: dict[str, str], key: str, default: str | None = None) -> int:
    """A number recorded in the schema table; a clear SchemaError if it is not one."""
    raw = info.get(key, default)
    try:
        return int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SchemaError(
            f"the tether schema table records {key}={raw!r}, which is not a revision number; "
            "the table was edited by hand or by another program: restore it from a backup, "
            "or set it to the revision the tables are at"
        ) from None


def _write(conn: Connection, key: str, value: str) -> None:
    conn.execute(schema_info.delete().where(schema_info.c.key == key))
    conn.execute(schema_info.insert().values(key=key, value=value))


def current_revision(db: Database) -> int | None:
    info = db.reading(_read, what="read the schema revision")
    return _number(info, "revision") if "revision" in info else None


def migrate(db: Database) -> list[int]:
    """Bring the schema to this code's head; returns the revisions applied."""
    applied: list[int] = []
    # Not repeated on a broken connection, unlike the store's other writes: the migration
    # either committed or rolled back, and its caller (``tether migrate``, a launch) should
    # hear which failed; running it again applies only what is missing.
    with db.write() as conn:
        if not db.is_sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        info = _read(conn)
        if "revision" not in info:
            metadata.create_all(conn)
            create_views(conn, db.dialect)
            _write(conn, "revision", str(head()))
            _write(conn, "min_code", str(min_code_for(head())))
            return [head()]
        revision = _number(info, "revision")
        for number, module in _migrations():
            if number > revision:
                module.upgrade(conn, db.dialect)
                applied.append(number)
                revision = number
        if applied:
            _write(conn, "revision", str(revision))
        # Also when nothing was applied: a database migrated before a revision declared its
        # MIN_CODE still records the older floor; it only ever rises.
        floor = max(_number(info, "min_code", "1"), min_code_for(revision))
        if applied or str(floor) != info.get("min_code"):
            _write(conn, "min_code", str(floor))
    return applied


def check(db: Database, *, code: int | None = None) -> int:
    """Refuse to run on a schema this code cannot use; returns the database's revision.

    ``code``: the schema revision the checking code was written for (default: this code's
    head); a test passes an older one to see what older code would say.
    """
    code = head() if code is None else code
    info = db.reading(_read, what="read the schema revision")
    if "revision" not in info:
        raise SchemaError(
            "the tether tables do not exist in this database: run `tether migrate` "
            "(or launch with migrate=True, the default)"
        )
    revision = _number(info, "revision")
    if revision < code:
        raise SchemaError(
            f"the database schema is at revision {revision} but this code needs {code}: "
            "run `tether migrate` (or launch with migrate=True)"
        )
    min_code = _number(info, "min_code", "1")
    if code < min_code:
        raise SchemaError(
            f"the database schema (revision {revision}) no longer supports code at revision "
            f"{code} (it needs at least {min_code}): deploy a newer tether"
        )
    return revision
