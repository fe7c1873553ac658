"""Engines, transactions and group commit for SQLite and Postgres.

Dialect differences in connecting live here: engine creation, SQLite's ``BEGIN IMMEDIATE``
(a writer takes the lock up front instead of failing on upgrade) and Postgres autocommit for
single statements. Writes that many threads issue at once (checkpoints) go through
:class:`~.commit.GroupCommitter` (``run_write``), which lets concurrent writers share one
COMMIT without ever reporting a write before its commit is durable.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event

from ..errors import ConfigurationError, SchemaError
from .commit import GroupCommitter, PendingWrite, take_ended
from .retry import missing_table, retrying

T = TypeVar("T")
log = logging.getLogger("tether.store")


def normalize_url(url: str) -> str:
    """Accept the URLs users paste (``postgres://``, ``postgresql://``) and pick psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if not (url.startswith("postgresql+psycopg://") or url.startswith("sqlite:")):
        raise ConfigurationError(
            f"unsupported database URL {url.split('://')[0]!r}://...: use "
            "'sqlite:///path/to/file.db' or 'postgresql://user@host:5432/dbname'"
        )
    return url


def redact(url: str) -> str:
    """The URL without its password, for logs and ``tether info``."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


class Database:
    """One engine and the transaction helpers every store module uses."""

    def __init__(
        self, url: str, *, pool_size: int = 10, application_name: str | None = None
    ) -> None:
        self.url = normalize_url(url)
        self.dialect = "sqlite" if self.url.startswith("sqlite") else "postgresql"
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(self.url)
        else:
            # A black-holed host must fail a connect in seconds, not the OS TCP timeout.
            connect_args: dict[str, Any] = {"connect_timeout": _connect_timeout()}
            if application_name:
                # Shown in pg_stat_activity: which app a backend serves.
                connect_args["application_name"] = application_name[:63]
            if os.environ.get("TETHER_PG_TRANSACTION_POOLER", "").lower() in ("1", "true", "yes"):
                # Behind a transaction-mode pooler (PgBouncer, Cloud SQL's managed pooling)
                # a server-side prepared statement may land on another backend: never prepare.
                connect_args["prepare_threshold"] = None
            self.engine = create_engine(
                self.url,
                connect_args=connect_args,
                pool_size=pool_size,
                max_overflow=pool_size * 2,
                # A pooled connection the server dropped (idle reaping, failover) is
                # replaced at checkout instead of failing the caller's first statement.
                pool_pre_ping=True,
                pool_recycle=1800,
            )
        self.committer = GroupCommitter(self)
        # Called with the ids of workflows whose end was just committed (see note_ended).
        self.on_ended: list[Callable[[list[str]], object]] = []

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self, *, single_statement: bool = False) -> Iterator[Connection]:
        """A write transaction (SQLite takes its writer lock at BEGIN).

        ``single_statement`` lets Postgres run the one statement in autocommit mode: one
        round trip instead of three (BEGIN, statement, COMMIT), with the same durability.
        """
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(tether_immediate=True)
            elif single_statement:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            take_ended(conn)  # nothing left from a transaction that did not commit
            with conn.begin():
                yield conn
            ended = take_ended(conn)
        self.ended(ended)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Reads need no multi-statement snapshot here; on Postgres they skip BEGIN/COMMIT."""
        with self.engine.connect() as conn:
            if not self.is_sqlite:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            with conn.begin():
                yield conn

    def reading(
        self,
        fn: Callable[[Connection], T],
        *,
        conn: Connection | None = None,
        what: str = "read from the database",
    ) -> T:
        """``fn`` on ``conn`` (the caller's transaction), or, when None, in a read
        transaction of its own, repeated on a fresh connection if the connection breaks
        (see ``retry``). The store's convention: see the package docstring."""
        if conn is not None:
            return fn(conn)
        return retrying(lambda: self._once(self.read, fn), what)

    def writing(
        self,
        fn: Callable[[Connection], T],
        *,
        conn: Connection | None = None,
        what: str = "write to the database",
        single_statement: bool = False,
    ) -> T:
        """Like ``reading``, for a write; ``fn`` must be safe to repeat (fenced,
        insert-if-absent or compare-and-set)."""
        if conn is not None:
            return fn(conn)
        return retrying(lambda: self._once(self.write, fn, single_statement), what)

    @staticmethod
    def _once(
        txn: Callable[..., Any], fn: Callable[[Connection], T], single: bool | None = None
    ) -> T:
        try:
            with txn() if single is None else txn(single_statement=single) as conn:
                return fn(conn)
        except Exception as exc:
            if missing_table(exc):
                raise SchemaError(
                    "the tether tables do not exist in this database: run `tether migrate` "
                    "(or launch with migrate=True, the default)"
                ) from exc
            raise

    def run_write(
        self,
        fn: Callable[[Connection], T],
        *,
        single_statement: bool = False,
        key: str | None = None,
    ) -> T:
        """Run ``fn`` in a write transaction, sharing the commit with concurrent writers.

        Writes with the same ``key`` (a workflow id) commit in the order they were issued.
        """
        return self.committer.run(fn, single_statement=single_statement, key=key)

    def submit_write(
        self,
        fn: Callable[[Connection], Any],
        *,
        single_statement: bool = False,
        key: str | None = None,
    ) -> PendingWrite:
        """Queue ``fn`` for the next group commit without waiting; ``.wait()`` for its result."""
        return self.committer.submit(fn, single_statement=single_statement, key=key)

    def ended(self, workflow_ids: set[str]) -> None:
        """After the commit that ended ``workflow_ids``: tell the ``on_ended`` listeners.

        After, not inside: a listener looks for waiters, and a waiter that suspends looks
        for the end after its own commit; each looking after its own commit is what makes
        one of them see the other (see ``store.waits``). A listener's failure is logged,
        not raised: the end is durable, and waiters left asleep are found by the sweep.
        """
        if not workflow_ids:
            return
        ids = sorted(workflow_ids)
        for listener in self.on_ended:
            try:
                listener(ids)
            except Exception:  # noqa: BLE001 - the write succeeded; see the docstring
                log.exception("after workflows %s ended: waking their waiters failed", ids[:5])

    def close(self) -> None:
        self.committer.close()
        self.engine.dispose()


def _connect_timeout() -> int:
    raw = os.environ.get("TETHER_PG_CONNECT_TIMEOUT", "10")
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(
            f"TETHER_PG_CONNECT_TIMEOUT={raw!r} is not a whole number of seconds"
        ) from None
    if value < 1:
        raise ConfigurationError("TETHER_PG_CONNECT_TIMEOUT must be at least 1 (seconds)")
    return value


def _sqlite_engine(url: str) -> Engine:
    # No liveness check at checkout (Postgres has pool_pre_ping): a SQLite connection is a
    # file handle in this process, which no server can drop.
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        # Switching a new file to WAL needs an exclusive lock, and SQLite reports "locked"
        # at once rather than waiting: processes starting together on one file retry.
        for attempt in range(200):
            try:
                cur.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 199:
                    raise
                time.sleep(0.05)
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("tether_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Prepared:
    """A statement compiled once for a dialect, run with plain parameters.

    For statements on hot paths (checkpoints, claims): building and compiling a Core
    statement per call costs more CPU than the database round trip it issues. Values bound
    in the statement itself are kept as defaults that ``params`` may override.
    """

    def __init__(self, stmt: Any, engine: Engine) -> None:
        compiled = stmt.compile(dialect=engine.dialect)
        self.sql = str(compiled)
        self.defaults: dict[str, Any] = dict(compiled.construct_params(_check=False))
        self.order: list[str] | None = (
            list(compiled.positiontup or []) if compiled.positional else None
        )

    def execute(self, conn: Connection, params: dict[str, Any]) -> Any:
        values = {**self.defaults, **params}
        args: Any = values if self.order is None else tuple(values[k] for k in self.order)
        return conn.exec_driver_sql(self.sql, args)
