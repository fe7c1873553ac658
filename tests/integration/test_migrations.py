"""Schema migrations: a fresh database is stamped at head; a missing schema is refused."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from tether.runtime.errors import SchemaError
from tether.runtime.store import Database, normalize_url
from tether.runtime.store import migrations as migrate

from tether import Tether


@pytest.fixture
def fresh_url(backend: str, database_url: str, tmp_path: object) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new Postgres database dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/fresh.db"
        return
    url = make_url(normalize_url(database_url))
    name = f"tether_fresh_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_fresh_database_is_migrated_to_head(fresh_url: str) -> None:
    db = Database(fresh_url)
    try:
        assert migrate.current_revision(db) is None
        assert migrate.migrate(db) == [migrate.head()]
        assert migrate.current_revision(db) == migrate.head()
        assert migrate.check(db) == migrate.head()
        assert migrate.migrate(db) == []  # already at head: nothing to do
    finally:
        db.close()


def test_missing_schema_is_refused(fresh_url: str, make_app: Callable[..., Tether]) -> None:
    db = Database(fresh_url)
    try:
        with pytest.raises(SchemaError, match="run `tether migrate`"):
            migrate.check(db)
    finally:
        db.close()
    app = make_app(database_url=fresh_url, migrate=False)
    with pytest.raises(SchemaError, match="tether migrate"):
        app.launch()
