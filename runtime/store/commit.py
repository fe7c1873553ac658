"""Group commit: concurrent writers share a COMMIT, and nothing is reported before it.

Writes are spread over a few *lanes* by key (the workflow id), each lane with its own
connections and commit lock, so that several batches can be in flight at once on Postgres
(which flushes their WAL together). All writes of one workflow use one lane and so stay
in order. SQLite has a single writer: one lane.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection

from .retry import retrying

if TYPE_CHECKING:
    from .database import Database

T = TypeVar("T")
_ENDED = "tether_ended"  # conn.info key: workflows this transaction ended


def note_ended(conn: Connection, workflow_ids: Iterable[str]) -> None:
    """In a write transaction: these workflows end with it (a terminal status, parked, or
    deleted). Once it commits, the database's ``on_ended`` listeners run (see
    :meth:`Database.ended`). Every write that ends a workflow says so here, so that nothing
    waiting for it (a suspended parent) depends on each caller remembering to look."""
    conn.info.setdefault(_ENDED, set()).update(workflow_ids)


def take_ended(conn: Connection) -> set[str]:
    """What the transaction on ``conn`` noted as ended (and forget it)."""
    ended: set[str] = conn.info.pop(_ENDED, None) or set()
    return ended


class PendingWrite:
    """A queued write: ``wait()`` for its commit, or ``withdraw()`` it before it is taken."""

    __slots__ = ("fn", "single", "done", "result", "error", "_event", "_lane")

    def __init__(self, fn: Callable[[Connection], Any], single: bool, lane: _Lane) -> None:
        self.fn = fn
        self.single = single
        self._lane = lane
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

    def withdraw(self) -> bool:
        """Take the write back if no batch has taken it yet; True when withdrawn.

        The caller then owns it: it writes the same data some other way and calls
        ``settle(result)`` so that waiters wake.
        """
        return self._lane.withdraw(self)

    def settle(self, result: Any) -> None:
        self.result = result
        self.finish()


class _Lane:
    """Leader/follower group commit over one connection pair.

    A writer queues its work and takes the commit lock. If another writer committed the
    work meanwhile, it returns that result; otherwise it becomes the leader and runs every
    queued item in one transaction (FIFO, so a workflow's row is written before its first
    checkpoint). When a batch fails as a whole, its items are retried one transaction
    each so that one bad write cannot fail its neighbours. Uncontended writers pay no
    thread hand-off. Items queued with ``submit`` are flushed by a background thread
    unless a writer takes them along first.
    """

    def __init__(self, db: Database, max_batch: int) -> None:
        self.db = db
        self.max_batch = max_batch
        self._commit_lock = threading.Lock()
        self._mu = threading.Lock()
        self._pending: list[PendingWrite] = []
        self._flush = threading.Event()
        self._flusher: threading.Thread | None = None
        # Connections owned by the committer and used only under the commit lock: a write
        # pays no pool checkout/reset (several round trips on Postgres).
        self._conns: dict[bool, Connection] = {}
        self._ended: set[str] = set()  # workflows ended by committed batches (commit lock)

    def run(self, fn: Callable[[Connection], T], *, single_statement: bool = False) -> T:
        item = PendingWrite(fn, single_statement, self)
        with self._mu:
            self._pending.append(item)
        self._lead_until(item)
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[no-any-return]

    def submit(
        self, fn: Callable[[Connection], Any], *, single_statement: bool = False
    ) -> PendingWrite:
        item = PendingWrite(fn, single_statement, self)
        with self._mu:
            self._pending.append(item)
            if self._flusher is None:
                self._flusher = threading.Thread(
                    target=self._flush_loop, name="tether-commit", daemon=True
                )
                self._flusher.start()
        self._flush.set()
        return item

    def withdraw(self, item: PendingWrite) -> bool:
        with self._mu:
            try:
                self._pending.remove(item)
            except ValueError:
                return False
            return True

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

    def _lead_until(self, item: PendingWrite) -> None:
        while not item.done:
            with self._commit_lock:
                if item.done:
                    break
                with self._mu:
                    batch = self._pending[: self.max_batch]
                    del self._pending[: self.max_batch]
                if batch:
                    self._execute(batch)
                ended, self._ended = self._ended, set()
            self.db.ended(ended)  # outside the lock: the lane commits on meanwhile

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
        take_ended(conn)  # nothing left from a transaction that did not commit
        try:
            with conn.begin():
                results = [fn(conn) for fn in fns]
        except BaseException:
            if conn.invalidated or not _healthy(conn):
                self._discard(single)
            raise
        self._ended |= take_ended(conn)
        return results

    def _discard(self, single: bool) -> None:
        conn = self._conns.pop(single and not self.db.is_sqlite, None)
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass

    def _discard_all(self) -> None:
        for single in (True, False):
            self._discard(single)

    def close(self) -> None:
        with self._commit_lock:
            for single in (True, False):
                self._discard(single)

    def _execute(self, batch: list[PendingWrite]) -> None:
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
                # A broken connection is replaced and the write repeated (every write is
                # fenced or insert-if-absent, so a repeat after an unknown commit is safe).
                it.result = retrying(
                    lambda it=it: self._transaction(it.single, [it.fn])[0],  # type: ignore[misc]
                    "commit a write",
                    on_retry=lambda _exc: self._discard_all(),
                )
            except BaseException as exc:  # noqa: BLE001 - delivered to the waiting writer
                it.error = exc
            it.finish()


class GroupCommitter:
    """Routes each write to its lane; see the module docstring."""

    def __init__(self, db: Database, *, lanes: int | None = None, max_batch: int = 128) -> None:
        count = 1 if db.is_sqlite else (lanes or 4)
        self._lanes = [_Lane(db, max_batch) for _ in range(count)]

    def _lane(self, key: str | None) -> _Lane:
        """Keyless writes (workflow starts, which wait for their commit anyway) use lane 0,
        so a start never queues behind running workflows' checkpoint batches."""
        if key is None or len(self._lanes) == 1:
            return self._lanes[0]
        return self._lanes[1 + zlib.crc32(key.encode()) % (len(self._lanes) - 1)]

    def run(
        self,
        fn: Callable[[Connection], T],
        *,
        single_statement: bool = False,
        key: str | None = None,
    ) -> T:
        return self._lane(key).run(fn, single_statement=single_statement)

    def submit(
        self,
        fn: Callable[[Connection], Any],
        *,
        single_statement: bool = False,
        key: str | None = None,
    ) -> PendingWrite:
        return self._lane(key).submit(fn, single_statement=single_statement)

    def close(self) -> None:
        for lane in self._lanes:
            lane.close()


def _healthy(conn: Connection) -> bool:
    try:
        conn.exec_driver_sql("SELECT 1")
        conn.rollback()
        return True
    except Exception:  # noqa: BLE001 - any failure means: replace the connection
        return False
