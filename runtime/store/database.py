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
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Reads need no multi-statement snapshot here; on Postgres they skip BEGIN/COMMIT."""
        with self.engine.connect() as conn:
            if not self.is_sqlite:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            with conn.begin():
                yield conn

    def run_write(self, fn: Callable[[Connection], T], *, single_statement: bool = False) -> T:
        """Run ``fn`` in a write transaction, sharing the commit with concurrent writers."""
        return self.committer.run(fn, single_statement=single_statement)

    def submit_write(
        self, fn: Callable[[Connection], Any], *, single_statement: bool = False
    ) -> _Item:
        """Queue ``fn`` for the next group commit without waiting; ``.wait()`` for its result."""
        return self.committer.submit(fn, single_statement=single_statement)

    def close(self) -> None:
        self.committer.close()
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


class Prepared:
    """A statement compiled once for a dialect, run with plain parameters.

    For the few statements on the checkpoint path: building and compiling a Core
    statement per call costs more CPU than the database round trip it issues.
    """

    def __init__(self, stmt: Any, engine: Engine) -> None:
        compiled = stmt.compile(dialect=engine.dialect)
        self.sql = str(compiled)
        self.order: list[str] | None = (
            list(compiled.positiontup or []) if compiled.positional else None
        )

    def execute(self, conn: Connection, params: dict[str, Any]) -> Any:
        args: Any = params if self.order is None else tuple(params[k] for k in self.order)
        return conn.exec_driver_sql(self.sql, args)


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
    __slots__ = ("fn", "single", "done", "result", "error", "_event")

    def __init__(self, fn: Callable[[Connection], Any], single: bool) -> None:
        self.fn = fn
        self.single = single
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        self._event: threading.Event | None = None

    def wait(self) -> Any:
        """Block until the item is committed (or failed); returns its result."""
        if not self.done:
            if self._event is None:
                self._event = threading.Event()
            while not self.done:
                self._event.wait(0.05)
        if self.error is not None:
            raise self.error
        return self.result

    def finish(self) -> None:
        self.done = True
        if self._event is not None:
            self._event.set()


class GroupCommitter:
    """Leader/follower group commit.

    A writer queues its work and takes the commit lock. If another writer committed the
    work meanwhile, it returns that result; otherwise it becomes the leader and runs every
    queued item in one transaction (FIFO, so a workflow's row is written before its first
    checkpoint). When a batch fails as a whole, its items are retried one transaction
    each so that one bad write cannot fail its neighbours. Uncontended writers pay no
    thread hand-off. Items queued with ``submit`` are flushed by a background thread
    unless a writer takes them along first.
    """

    def __init__(self, db: Database, max_batch: int = 128) -> None:
        self.db = db
        self.max_batch = max_batch
        self._commit_lock = threading.Lock()
        self._mu = threading.Lock()
        self._pending: list[_Item] = []
        self._flush = threading.Event()
        self._flusher: threading.Thread | None = None
        # Connections owned by the committer and used only under the commit lock: a write
        # pays no pool checkout/reset (several round trips on Postgres).
        self._conns: dict[bool, Connection] = {}

    def run(self, fn: Callable[[Connection], T], *, single_statement: bool = False) -> T:
        item = _Item(fn, single_statement)
        with self._mu:
            self._pending.append(item)
        self._lead_until(item)
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[no-any-return]

    def submit(self, fn: Callable[[Connection], Any], *, single_statement: bool = False) -> _Item:
        item = _Item(fn, single_statement)
        with self._mu:
            self._pending.append(item)
            if self._flusher is None:
                self._flusher = threading.Thread(
                    target=self._flush_loop, name="tether-commit", daemon=True
                )
                self._flusher.start()
        self._flush.set()
        return item

    def _flush_loop(self) -> None:
        while True:
            self._flush.wait()
            self._flush.clear()
            while True:
                with self._mu:
                    if not self._pending:
                        break
                    last = self._pending[-1]
                self._lead_until(last)

    def _lead_until(self, item: _Item) -> None:
        while not item.done:
            with self._commit_lock:
                if item.done:
                    break
                with self._mu:
                    batch = self._pending[: self.max_batch]
                    del self._pending[: self.max_batch]
                if batch:
                    self._execute(batch)

    def _connection(self, single: bool) -> Connection:
        autocommit = single and not self.db.is_sqlite
        conn = self._conns.get(autocommit)
        if conn is None or conn.closed or conn.invalidated:
            conn = self.db.engine.connect()
            if self.db.is_sqlite:
                conn = conn.execution_options(tether_immediate=True)
            elif autocommit:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            self._conns[autocommit] = conn
        return conn

    def _transaction(self, single: bool, fns: list[Callable[[Connection], Any]]) -> list[Any]:
        conn = self._connection(single)
        try:
            with conn.begin():
                return [fn(conn) for fn in fns]
        except BaseException:
            if conn.invalidated or not _healthy(conn):
                self._discard(single)
            raise

    def _discard(self, single: bool) -> None:
        conn = self._conns.pop(single and not self.db.is_sqlite, None)
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass

    def close(self) -> None:
        with self._commit_lock:
            for single in (True, False):
                self._discard(single)

    def _execute(self, batch: list[_Item]) -> None:
        if len(batch) > 1:
            try:
                results = self._transaction(False, [it.fn for it in batch])
            except Exception:  # noqa: BLE001 - retry items alone to isolate the failure
                pass
            else:
                for it, res in zip(batch, results, strict=True):
                    it.result = res
                    it.finish()
                return
        for it in batch:
            try:
                it.result = self._transaction(it.single, [it.fn])[0]
            except BaseException as exc:  # noqa: BLE001 - delivered to the waiting writer
                it.error = exc
            it.finish()


def _healthy(conn: Connection) -> bool:
    try:
        conn.exec_driver_sql("SELECT 1")
        conn.rollback()
        return True
    except Exception:  # noqa: BLE001 - any failure means: replace the connection
        return False
