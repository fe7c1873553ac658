"""Queued workflows: enqueue (also inside a caller's transaction), claim, load statistics.

A queued workflow is a ``tether_workflows`` row in status ENQUEUED with a ``queue_name``;
claiming flips it to PENDING, held by the claiming executor at a new lease epoch, after
which it runs like any other workflow (fenced checkpoints, recovery by peers).

Claims that spend a budget shared by executors (global or partition concurrency, a rate
limit) are serialized per queue: a Postgres transaction-scoped advisory lock (works through
a transaction-mode pooler), or SQLite's writer lock. Claims with no shared budget are one
``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`` statement.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnClause,
    Connection,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from ..clock import now_ms
from ..errors import ConfigurationError
from ..leases import ALL_VERSIONS
from ..records import Status
from .database import Database, Prepared
from .schema import operations as O
from .schema import workflows as W

CHANNEL = "tether_queues"  # Postgres LISTEN/NOTIFY channel for "new work in a queue"
_ENQUEUED: ColumnClause[str] = literal_column(f"'{Status.ENQUEUED}'")
_PENDING: ColumnClause[str] = literal_column(f"'{Status.PENDING}'")
_QUEUED = text("tether_workflows.queue_name IS NOT NULL")  # matches the partial indexes
_OPEN = tuple(sorted(Status.OPEN))
# How far back a partition's last start counts when partitions take turns (see
# ``QueueStore._partition_pick``).
FAIR_WINDOW_MS = 60_000

Rows = list[dict[str, Any]]
Run = Callable[[Any], Rows]


# -- running statements on our connection or the caller's ------------------------------------


def sqlalchemy_runner(conn: Connection) -> Run:
    def run(stmt: Any) -> Rows:
        res = conn.execute(stmt)
        return [dict(r._mapping) for r in res] if res.returns_rows else []

    return run


def psycopg_runner(conn: Any) -> Run:
    """Run Core statements on a caller's psycopg connection, inside its transaction."""
    from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect

    dialect = psycopg_dialect()  # type: ignore[no-untyped-call]

    def run(stmt: Any) -> Rows:
        compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        with conn.cursor() as cur:
            cur.execute(str(compiled), compiled.params)
            if cur.description is None:
                return []
            names = [d.name for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    return run


def caller_runner(conn: Any, dialect: str) -> Run:
    """A runner for a connection the caller owns (its transaction, its commit)."""
    try:
        from sqlalchemy.orm import Session

        if isinstance(conn, Session):
            conn = conn.connection()
    except ImportError:  # pragma: no cover - the ORM ships with SQLAlchemy
        pass
    if isinstance(conn, Connection):
        if conn.dialect.name != dialect:
            raise ConfigurationError(
                f"connection= is a {conn.dialect.name} connection but this app's database is "
                f"{dialect}: pass a connection to the same database"
            )
        return sqlalchemy_runner(conn)
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        psycopg = None  # type: ignore[assignment]
    if psycopg is not None and isinstance(conn, psycopg.Connection):
        if dialect != "postgresql":
            raise ConfigurationError("a psycopg connection needs a Postgres database_url")
        return psycopg_runner(conn)
    raise ConfigurationError(
        f"connection= must be a SQLAlchemy Connection or Session, or a psycopg connection; "
        f"got {type(conn).__name__}"
    )


# -- enqueue -----------------------------------------------------------------------------------

_seq_lock = threading.Lock()
_last_seq = 0


def next_seq() -> int:
    """Microseconds since the epoch, strictly increasing within this process (FIFO order)."""
    global _last_seq
    with _seq_lock:
        _last_seq = max(_last_seq + 1, time.time_ns() // 1000)
        return _last_seq


@dataclass(frozen=True)
class Enqueue:
    workflow_id: str
    name: str
    inputs_json: str
    version: str
    queue: str
    priority: int = 0
    dedup_id: str | None = None
    partition_key: str | None = None
    delay_ms: int = 0  # due this long after the row's creation time
    timeout_ms: int | None = None  # the deadline is this long after its dequeue
    trace_context: str | None = None  # the enqueuer's W3C traceparent (see runtime.observe)


@dataclass(frozen=True)
class Enqueued:
    workflow_id: str  # the id to hand out: the new row, or the one that already exists
    created: bool
    duplicate_of: str | None = None  # set when another open workflow holds the dedup id
    existing_name: str | None = None  # set when the workflow id already existed


@dataclass(frozen=True)
class Claimed:
    workflow_id: str
    name: str
    inputs: str
    epoch: int
    has_history: bool
    trace_context: str | None = None
    due_at: int | None = None  # when it became due (epoch ms): its wait in the queue began


def live_filter(versions: Iterable[str] | None) -> Any:
    """Rows whose version is in ``versions`` (None or ``"*"``: every version)."""
    if versions is None:
        return literal(True)
    vs = sorted(set(versions))
    if ALL_VERSIONS in vs:
        return literal(True)
    # One bound value each (not an expanding list), so statements compile once.
    return W.c.version.in_([bindparam("v", v, unique=True) for v in vs]) if vs else literal(False)


def advisory_key(app: str, queue: str) -> int:
    digest = hashlib.blake2b(f"tether-queue:{app}:{queue}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class QueueStore:
    def __init__(self, db: Database, app_name: str) -> None:
        self.db = db
        self.app = app_name
        self._insert = sqlite.insert if db.is_sqlite else postgresql.insert
        self._statements: dict[Any, Prepared] = {}

    # -- enqueue ------------------------------------------------------------------------------

    def enqueue(self, run: Run, e: Enqueue, *, dialect: str | None = None) -> Enqueued:
        """Insert the ENQUEUED row unless its id or its dedup id is taken (no exception)."""
        dialect = dialect or self.db.dialect
        now = now_ms()
        if e.dedup_id is not None:
            # A finished holder no longer blocks its dedup id: release it first.
            run(
                update(W)
                .where(
                    W.c.app_name == self.app,
                    W.c.queue_name == e.queue,
                    W.c.dedup_id == e.dedup_id,
                    W.c.status.not_in(_OPEN),
                )
                .values(dedup_id=None)
            )
        insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        stmt = (
            insert(W)
            .values(
                app_name=self.app,
                workflow_id=e.workflow_id,
                name=e.name,
                status=Status.ENQUEUED,
                version=e.version,
                executor_id=None,
                lease_epoch=0,
                inputs=e.inputs_json,
                queue_name=e.queue,
                priority=e.priority,
                dedup_id=e.dedup_id,
                partition_key=e.partition_key,
                not_before=now + e.delay_ms if e.delay_ms > 0 else None,
                queue_seq=next_seq(),
                timeout_ms=e.timeout_ms,
                trace_context=e.trace_context,
                recovery_attempts=0,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()
            .returning(W.c.workflow_id)
        )
        if dialect == "postgresql":
            # One round trip: the NOTIFY rides on the insert (sent at commit, if inserted).
            ins = stmt.cte("ins")
            payload = json.dumps([self.app, e.queue])
            notify = select(ins.c.workflow_id, func.pg_notify(CHANNEL, payload)).select_from(ins)
            stmt = notify  # type: ignore[assignment]
        if run(stmt):
            return Enqueued(e.workflow_id, True)
        same = run(
            select(W.c.name).where(W.c.app_name == self.app, W.c.workflow_id == e.workflow_id)
        )
        if same:
            return Enqueued(e.workflow_id, False, existing_name=same[0]["name"])
        holder = run(
            select(W.c.workflow_id).where(
                W.c.app_name == self.app, W.c.queue_name == e.queue, W.c.dedup_id == e.dedup_id
            )
        )
        if holder:
            return Enqueued(holder[0]["workflow_id"], False, duplicate_of=holder[0]["workflow_id"])
        raise ConfigurationError(  # the conflicting row vanished meanwhile: let the caller retry
            f"enqueue of {e.workflow_id!r} conflicted with a row that no longer exists; retry"
        )

    # -- claim --------------------------------------------------------------------------------

    def claim(
        self,
        queue: str,
        *,
        me: str,
        runnable: Iterable[str],
        live: Iterable[str] | None,
        capacity: int,
        concurrency: int | None = None,
        worker_concurrency: int | None = None,
        rate_limit: tuple[int, float] | None = None,
        partition_concurrency: int | None = None,
    ) -> list[Claimed]:
        """Move up to ``capacity`` due workflows of runnable versions to PENDING, held by ``me``.

        ``live`` is the set of versions some live executor can run: PENDING workflows of
        other versions (orphaned: their holder is dead and no one can take them over) hold
        no slot of the queue's concurrency.
        """
        if capacity <= 0:
            return []
        shared = bool(concurrency or rate_limit or partition_concurrency)
        args = dict(
            queue=queue,
            me=me,
            runnable=runnable,
            live=live,
            capacity=capacity,
            concurrency=concurrency,
            worker_concurrency=worker_concurrency,
            rate_limit=rate_limit,
            partition_concurrency=partition_concurrency,
        )
        # Not repeated on a broken connection, unlike the store's other writes: a claim whose
        # commit was acknowledged to no one would claim a second batch while the first stays
        # held by this executor, unstarted. The dequeue loop is the retry, and recovery
        # releases work a live executor holds but does not run.
        if self.db.is_sqlite or shared:
            with self.db.write() as conn:
                if not self.db.is_sqlite:
                    conn.execute(select(func.pg_advisory_xact_lock(advisory_key(self.app, queue))))
                return self._claim(conn, skip_locked=False, **args)  # type: ignore[arg-type]
        if worker_concurrency:
            _, mine = self.db.reading(lambda c: self._running(c, queue, me, live))
            args["capacity"] = min(capacity, worker_concurrency - mine)
            args["worker_concurrency"] = None
        with self.db.write(single_statement=True) as conn:
            return self._claim(conn, skip_locked=True, **args)  # type: ignore[arg-type]

    def has_waiting(
        self, queue: str, runnable: Iterable[str], *, conn: Connection | None = None
    ) -> bool:
        """Whether any due workflow of a runnable version waits (a read: no lock taken)."""
        versions = frozenset(runnable)
        peek = self._compiled(
            ("peek", versions),
            lambda: select(literal_column("1")).where(self._waiting(versions)).limit(1),
        )
        params = {"queue": queue, "app": self.app, "now": now_ms()}
        row = self.db.reading(lambda c: peek.execute(c, params).first(), conn=conn)
        return row is not None

    def _compiled(self, key: Any, build: Callable[[], Any]) -> Prepared:
        found = self._statements.get(key)
        if found is None:
            found = self._statements[key] = Prepared(build(), self.db.engine)
        return found

    def _waiting(self, runnable: frozenset[str]) -> Any:
        return and_(
            W.c.queue_name == bindparam("queue"),
            W.c.app_name == bindparam("app"),
            W.c.status == _ENQUEUED,
            live_filter(runnable),
            or_(W.c.not_before.is_(None), W.c.not_before <= bindparam("now")),
        )

    def _running(
        self, conn: Connection, queue: str, me: str, live: Iterable[str] | None
    ) -> tuple[int, int]:
        """(PENDING workflows of live versions in the queue, those held by ``me``)."""
        versions = None if live is None else frozenset(live)
        count = self._compiled(
            ("running", versions),
            lambda: select(
                func.coalesce(func.sum(case((live_filter(versions), 1), else_=0)), 0),
                func.coalesce(func.sum(case((W.c.executor_id == bindparam("me"), 1), else_=0)), 0),
            ).where(
                W.c.queue_name == bindparam("queue"),
                W.c.status == _PENDING,
                W.c.app_name == bindparam("app"),
            ),
        )
        row = count.execute(conn, {"queue": queue, "app": self.app, "me": me}).one()
        return int(row[0]), int(row[1])

    def _started_since(self, conn: Connection, queue: str, since: int) -> int:
        count = self._compiled(
            ("rate",),
            lambda: select(func.count()).where(
                W.c.queue_name == bindparam("queue"),
                W.c.app_name == bindparam("app"),
                W.c.started_at >= bindparam("since"),
                _QUEUED,
            ),
        )
        return int(
            count.execute(conn, {"queue": queue, "app": self.app, "since": since}).scalar_one()
        )

    def _claim(
        self,
        conn: Connection,
        *,
        queue: str,
        me: str,
        runnable: Iterable[str],
        live: Iterable[str] | None,
        capacity: int,
        concurrency: int | None,
        worker_concurrency: int | None,
        rate_limit: tuple[int, float] | None,
        partition_concurrency: int | None,
        skip_locked: bool,
    ) -> list[Claimed]:
        now = now_ms()
        n = capacity
        if concurrency or worker_concurrency:
            running, mine = self._running(conn, queue, me, live)
            if concurrency:
                n = min(n, concurrency - running)
            if worker_concurrency:
                n = min(n, worker_concurrency - mine)
        if rate_limit and n > 0:
            limit, period = rate_limit
            n = min(n, limit - self._started_since(conn, queue, now - int(period * 1000)))
        if n <= 0:
            return []
        versions = frozenset(runnable)
        live_versions = None if live is None else frozenset(live)
        key = ("claim", versions, live_versions, skip_locked, bool(partition_concurrency))
        stmt = self._compiled(
            key,
            lambda: self._claim_statement(
                versions, live_versions, skip_locked, bool(partition_concurrency)
            ),
        )
        params = {"queue": queue, "app": self.app, "now": now, "me": me, "n": n}
        params["pc"] = partition_concurrency or 0
        return [
            Claimed(r[0], r[1], r[2], int(r[3]), bool(r[4]), r[5], r[6])
            for r in stmt.execute(conn, params)
        ]

    def _claim_statement(
        self,
        runnable: frozenset[str],
        live: frozenset[str] | None,
        skip_locked: bool,
        partitioned: bool,
    ) -> Any:
        waiting = self._waiting(runnable)
        if partitioned:
            pick = self._partition_pick(waiting, live)
        else:
            pick = select(W.c.workflow_id).where(waiting).order_by(W.c.priority, W.c.queue_seq)
            pick = pick.limit(bindparam("n"))
            if skip_locked and not self.db.is_sqlite:
                pick = pick.with_for_update(skip_locked=True)
        if not self.db.is_sqlite:
            # Materialized, so the pick runs once: as a plain IN (subquery) Postgres may
            # re-run it per outer row (a nested-loop semi-join) and claim more than asked.
            picked = pick.cte("picked").prefix_with("MATERIALIZED")
            pick = select(picked.c.workflow_id)
        # Qualified by hand: SQLite's RETURNING renders the updated table's columns bare,
        # and a bare ``app_name`` inside this subquery names tether_operations' own column
        # (then every claim would report a history once any workflow has one).
        has_history = exists(
            select(literal_column("1")).where(
                O.c.app_name == literal_column(f"{W.name}.app_name"),
                O.c.workflow_id == literal_column(f"{W.name}.workflow_id"),
            )
        )
        return (
            update(W)
            .where(
                W.c.app_name == bindparam("app"), W.c.workflow_id.in_(pick), W.c.status == _ENQUEUED
            )
            .values(
                status=Status.PENDING,
                executor_id=bindparam("me"),
                lease_epoch=W.c.lease_epoch + 1,
                # ``now`` was read before this statement, and a row committed since then
                # may have been created later: a start is never reported before creation.
                started_at=case(
                    (W.c.created_at > bindparam("now"), W.c.created_at), else_=bindparam("now")
                ),
                updated_at=bindparam("now"),
                # A workflow timeout runs from the dequeue (a deadline set earlier stays).
                deadline_at=func.coalesce(W.c.deadline_at, bindparam("now") + W.c.timeout_ms),
            )
            .returning(
                W.c.workflow_id,
                W.c.name,
                W.c.inputs,
                W.c.lease_epoch,
                has_history.label("h"),
                W.c.trace_context,
                func.coalesce(W.c.not_before, W.c.created_at).label("due"),
            )
        )

    def _partition_pick(self, waiting: Any, live: frozenset[str] | None) -> Any:
        """Heads of each partition, as many as its free slots (no key: no partition limit).

        Fair at equal priority: every partition's first waiting row comes before any
        partition's second, and among heads the partition served least recently (no start
        in the last ``FAIR_WINDOW_MS``: not served) goes first, so partitions take turns and
        one busy partition's backlog never starves the others.
        """
        ranked = (
            select(
                W.c.workflow_id,
                W.c.partition_key,
                W.c.priority,
                W.c.queue_seq,
                func.row_number()
                .over(partition_by=W.c.partition_key, order_by=(W.c.priority, W.c.queue_seq))
                .label("rn"),
            )
            .where(waiting)
            .subquery("ranked")
        )
        busy = (
            select(W.c.partition_key, func.count().label("busy_n"))
            .where(
                W.c.queue_name == bindparam("queue"),
                W.c.status == _PENDING,
                W.c.app_name == bindparam("app"),
                W.c.partition_key.is_not(None),
                live_filter(live),
            )
            .group_by(W.c.partition_key)
            .subquery("busy")
        )
        served = (
            select(W.c.partition_key, func.max(W.c.started_at).label("last_start"))
            .where(
                W.c.queue_name == bindparam("queue"),
                W.c.app_name == bindparam("app"),
                W.c.started_at >= bindparam("now") - FAIR_WINDOW_MS,
                W.c.partition_key.is_not(None),
                _QUEUED,
            )
            .group_by(W.c.partition_key)
            .subquery("served")
        )
        joined = ranked.outerjoin(busy, busy.c.partition_key == ranked.c.partition_key).outerjoin(
            served, served.c.partition_key == ranked.c.partition_key
        )
        return (
            select(ranked.c.workflow_id)
            .select_from(joined)
            .where(
                or_(
                    ranked.c.partition_key.is_(None),
                    ranked.c.rn <= bindparam("pc") - func.coalesce(busy.c.busy_n, 0),
                )
            )
            .order_by(
                ranked.c.priority,
                ranked.c.rn,
                func.coalesce(served.c.last_start, 0),
                ranked.c.queue_seq,
            )
            .limit(bindparam("n"))
        )

    def notify(self, queue: str, *, conn: Connection | None = None) -> None:
        """Wake peers listening for work on ``queue`` (Postgres; a no-op on SQLite)."""
        if self.db.is_sqlite:
            return
        stmt = select(func.pg_notify(CHANNEL, json.dumps([self.app, queue])))
        # A repeated notification wakes peers for one more look: harmless.
        self.db.writing(lambda c: c.execute(stmt), conn=conn, single_statement=True)

    def open_holder(
        self, queue: str, dedup_id: str, *, conn: Connection | None = None
    ) -> str | None:
        """The open workflow holding ``dedup_id`` in ``queue``, if any."""
        stmt = select(W.c.workflow_id).where(
            W.c.app_name == self.app,
            W.c.queue_name == queue,
            W.c.dedup_id == dedup_id,
            W.c.status.in_(_OPEN),
        )
        row = self.db.reading(lambda c: c.execute(stmt).first(), conn=conn)
        return str(row[0]) if row else None
