"""Fresh equals upgraded: a database created at revision 1 and migrated forward has exactly
the schema that a fresh ``migrate()`` creates, on SQLite and Postgres."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from tether.runtime.errors import SchemaError
from tether.runtime.store import Database
from tether.runtime.store import migrate as m

SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.fixture
def two_databases(backend: str, database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}", f"sqlite:///{tmp_path / 'upgraded.db'}"
        return
    base = make_url(database_url).set(drivername="postgresql+psycopg")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    names = [f"tether_mig_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield tuple(base.set(database=n).render_as_string(False) for n in names)  # type: ignore[misc]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _load_snapshot(db: Database) -> None:
    sql = (SNAPSHOTS / f"rev1.{db.dialect}.sql").read_text()
    with db.write() as conn:
        for statement in sql.split(";"):
            body = "\n".join(
                line for line in statement.splitlines() if not line.startswith("--")
            ).strip()
            if body:
                conn.exec_driver_sql(body)


def _predicate(index: dict[str, Any]) -> str | None:
    """A partial index's WHERE clause as text (reflected per dialect)."""
    options = index.get("dialect_options", {})
    where = options.get("postgresql_where", options.get("sqlite_where"))
    return None if where is None else " ".join(str(where).replace('"', "").split())


def _describe(db: Database) -> dict[str, Any]:
    """Everything of the schema that a migration can get wrong: columns with their types,
    nullability and server defaults; keys; indexes with their predicates; constraints."""
    with db.read() as conn:
        insp = inspect(conn)
        out: dict[str, Any] = {}
        for table in sorted(insp.get_table_names()):
            out[table] = {
                "columns": {
                    c["name"]: (
                        str(c["type"]).split("(")[0],
                        c["nullable"],
                        None if c.get("default") is None else str(c["default"]),
                    )
                    for c in insp.get_columns(table)
                },
                "pk": insp.get_pk_constraint(table)["constrained_columns"],
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]), _predicate(i))
                    for i in insp.get_indexes(table)
                ),
                "foreign_keys": sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"])
                    for f in insp.get_foreign_keys(table)
                ),
                "unique": sorted(
                    (u["name"] or "", tuple(u["column_names"]))
                    for u in insp.get_unique_constraints(table)
                ),
                "checks": sorted(str(c["sqltext"]) for c in insp.get_check_constraints(table)),
            }
        out["views"] = sorted(insp.get_view_names())
        return out


def test_fresh_equals_upgraded(two_databases: tuple[str, str]) -> None:
    fresh, upgraded = (Database(url) for url in two_databases)
    try:
        assert m.migrate(fresh) == [m.head()]
        _load_snapshot(upgraded)
        assert m.current_revision(upgraded) == 1
        applied = m.migrate(upgraded)
        # Every revision after 1, in order (numbers may have gaps).
        assert applied == sorted(applied) and applied[0] == 2 and applied[-1] == m.head()
        assert m.current_revision(upgraded) == m.head()
        assert _describe(upgraded) == _describe(fresh)
        assert m.migrate(upgraded) == []  # idempotent
        assert m.check(upgraded) == m.head()
    finally:
        fresh.close()
        upgraded.close()


def test_check_refuses_missing_and_old_schemas(two_databases: tuple[str, str]) -> None:
    empty, old = (Database(url) for url in two_databases)
    try:
        with pytest.raises(SchemaError, match="tether migrate"):
            m.check(empty)
        _load_snapshot(old)
        with pytest.raises(SchemaError, match="revision 1 but this code needs"):
            m.check(old)
    finally:
        empty.close()
        old.close()


def test_newer_schema_that_drops_support_refuses_old_code(two_databases: tuple[str, str]) -> None:
    db = Database(two_databases[0])
    try:
        m.migrate(db)
        with db.write() as conn:
            conn.exec_driver_sql("UPDATE tether_schema SET value = '999' WHERE key = 'min_code'")
        with pytest.raises(SchemaError, match="deploy a newer tether"):
            m.check(db)
    finally:
        db.close()


def _min_code(db: Database) -> str:
    with db.read() as conn:
        return str(
            conn.exec_driver_sql("SELECT value FROM tether_schema WHERE key = 'min_code'").scalar()
        )


def test_suspension_revision_refuses_code_that_predates_it(
    two_databases: tuple[str, str],
) -> None:
    """Code before revision 6 does not know SUSPENDED rows: it must refuse to start, on a
    fresh database, an upgraded one, and one migrated before revision 6 declared it."""
    floor = m.min_code_for(m.head())  # 6, or higher once a later revision raises it
    assert m.min_code_for(5) == 1 and m.min_code_for(6) == 6
    fresh, upgraded = (Database(url) for url in two_databases)
    try:
        m.migrate(fresh)
        _load_snapshot(upgraded)
        m.migrate(upgraded)
        for db in (fresh, upgraded):
            assert _min_code(db) == str(floor)
            with pytest.raises(SchemaError) as info:
                m.check(db, code=5)
            assert str(info.value) == (
                f"the database schema (revision {m.head()}) no longer supports code at "
                f"revision 5 (it needs at least {floor}): deploy a newer tether"
            )
            assert m.check(db, code=floor) == m.head()  # code from the floor on runs
        # Migrated by code that had not declared the floor yet: the next migrate raises it.
        with fresh.write() as conn:
            conn.exec_driver_sql("UPDATE tether_schema SET value = '1' WHERE key = 'min_code'")
        assert m.migrate(fresh) == []
        assert _min_code(fresh) == str(floor)
        with pytest.raises(SchemaError, match=f"needs at least {floor}"):
            m.check(fresh, code=5)
    finally:
        fresh.close()
        upgraded.close()
