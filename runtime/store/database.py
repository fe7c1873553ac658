"""Engines, transactions and group commit for SQLite and Postgres.

Dialect differences live here and nowhere else: engine creation, SQLite's ``BEGIN IMMEDIATE``
(a writer takes the lock up front instead of failing on upgrade), and unique-violation
classification. Writes that many threads issue at once (checkpoints) go through
:class:`GroupCommitter`, which lets concurrent writers share one COMMIT without ever
reporting a write before its commit is durable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import IntegrityError, OperationalError

from ..errors import ConfigurationError

T = TypeVar("T")


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

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = normalize_url(url)
        self.dialect = "sqlite" if self.url.startswith("sqlite") else "postgresql"
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(self.url)
        else:
            self.engine = create_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=pool_size * 2,
                pool_pre_ping=False,
                pool_recycle=1800,
            )
        self.committer = GroupCommitter(self)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (SQLite takes its writer lock at BEGIN)."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(tether_immediate=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def run_write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a write transaction, sharing the commit with concurrent writers."""
        return self.committer.run(fn)

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("tether_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def is_unique_violation(exc: BaseException) -> bool:
    if not isinstance(exc, IntegrityError):
        return False
    text = str(exc.orig).lower()
    return "unique" in text or "duplicate key" in text or "primary key" in text


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying: SQLite lock timeouts, Postgres serialization/deadlock."""
    if isinstance(exc, OperationalError):
        text = str(exc.orig).lower()
        return "locked" in text or "deadlock" in text or "could not serialize" in text
    return False


class _Item:
    __slots__ = ("fn", "done", "result", "error")

    def __init__(self, fn: Callable[[Connection], Any]) -> None:
        self.fn = fn
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class GroupCommitter:
    """Leader/follower group commit.

    A writer queues its work and takes the commit lock. If another writer committed the
    work meanwhile, it returns that result; otherwise it becomes the leader and runs every
    queued item in one transaction. Each item runs inside a SAVEPOINT-free batch; when the
    batch fails as a whole, items are retried one transaction each so one bad write cannot
    fail its neighbours. Uncontended writers pay no thread hand-off.
    """

    def __init__(self, db: Database, max_batch: int = 128) -> None:
        self.db = db
        self.max_batch = max_batch
        self._commit_lock = threading.Lock()
        self._mu = threading.Lock()
        self._pending: list[_Item] = []

    def run(self, fn: Callable[[Connection], T]) -> T:
        item = _Item(fn)
        with self._mu:
            self._pending.append(item)
        while not item.done:
            with self._commit_lock:
                if item.done:
                    break
                with self._mu:
                    batch = self._pending[: self.max_batch]
                    del self._pending[: self.max_batch]
                if batch:
                    self._execute(batch)
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[no-any-return]

    def _execute(self, batch: list[_Item]) -> None:
        if len(batch) > 1:
            try:
                with self.db.write() as conn:
                    results = [it.fn(conn) for it in batch]
            except Exception:  # noqa: BLE001 - retry items alone to isolate the failure
                pass
            else:
                for it, res in zip(batch, results, strict=True):
                    it.result, it.done = res, True
                return
        for it in batch:
            try:
                with self.db.write() as conn:
                    it.result = it.fn(conn)
            except BaseException as exc:  # noqa: BLE001 - delivered to the waiting writer
                it.error = exc
            it.done = True
