"""The queue claim at the store level: which rows one claim takes, in what order, and how.

Each test lays rows out with ``QueueStore.enqueue`` and plain updates on a real database
(SQLite file, and Postgres when configured), freezes the store's clock, and claims. These
are the admission rules the executors' dequeue loop relies on; the queue integration tests
show them end to end, more slowly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, insert, select, update
from tether.runtime.store import Store
from tether.runtime.store import queues as queues_module
from tether.runtime.store.queues import FAIR_WINDOW_MS, Enqueue, sqlalchemy_runner
from tether.runtime.store.schema import operations as O
from tether.runtime.store.schema import workflows as W

# Postgres only: SQLite serializes every claim behind its writer lock, so it has neither the
# CTE nor the concurrent windows these tests look at.
POSTGRES_ONLY = pytest.mark.parametrize("backend", ["postgres"], indirect=True)

T0 = 1_800_000_000_000  # a fixed "now" (epoch ms)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(queues_module, "now_ms", c)
    return c


@pytest.fixture
def store(database_url: str, app_name: str) -> Iterator[Store]:
    s = Store(database_url, app_name)
    s.migrate()
    yield s
    s.close()


def put(store: Store, wid: str, *, queue: str = "q", version: str = "v1", **kw: Any) -> None:
    e = Enqueue(wid, f"job-{wid}", f'["{wid}"]', version, queue, **kw)
    with store.db.write() as conn:
        assert store.queues.enqueue(sqlalchemy_runner(conn), e).created


def set_row(store: Store, wid: str, **values: Any) -> None:
    with store.db.write() as conn:
        conn.execute(
            update(W).where(W.c.app_name == store.app_name, W.c.workflow_id == wid).values(**values)
        )


def running(store: Store, wid: str, *, by: str = "other", **kw: Any) -> None:
    """A queued workflow some executor already runs (PENDING, held, started)."""
    put(store, wid, **{k: v for k, v in kw.items() if k in ("queue", "version", "partition_key")})
    set_row(store, wid, status="PENDING", executor_id=by, started_at=kw.get("started_at", T0 - 1))


def row(store: Store, wid: str) -> Any:
    with store.db.read() as conn:
        return conn.execute(
            select(W).where(W.c.app_name == store.app_name, W.c.workflow_id == wid)
        ).one()


def claim(store: Store, capacity: int = 10, **kw: Any) -> list[str]:
    kw.setdefault("runnable", {"v1"})
    kw.setdefault("live", {"v1"})
    got = store.queues.claim("q", me=kw.pop("me", "me"), capacity=capacity, **kw)
    return sorted(c.workflow_id for c in got)  # RETURNING follows no order


# -- order, capacity, and what a claim does to the row ---------------------------------------


def test_priority_first_then_enqueue_order_up_to_capacity(store: Store, clock: Clock) -> None:
    for wid, priority in (("a", 1), ("b", 0), ("c", 0), ("d", 0), ("e", -1)):
        put(store, wid, priority=priority)
    assert claim(store, 1) == ["e"]
    assert claim(store, 1) == ["b"]
    assert claim(store, 2) == ["c", "d"]
    assert claim(store, 5) == ["a"]
    assert claim(store, 5) == []


@pytest.mark.parametrize("capacity", [0, -1])
def test_no_capacity_claims_nothing(store: Store, clock: Clock, capacity: int) -> None:
    put(store, "a")
    assert claim(store, capacity) == []
    assert row(store, "a").status == "ENQUEUED"


def test_a_claimed_row_is_pending_held_at_a_new_epoch_and_started_now(
    store: Store, clock: Clock
) -> None:
    put(store, "a", timeout_ms=5_000)
    put(store, "b")
    set_row(store, "b", lease_epoch=4)
    clock.now = T0 + 250
    got = store.queues.claim("q", me="me", runnable={"v1"}, live={"v1"}, capacity=5)
    assert sorted((c.workflow_id, c.name, c.inputs, c.epoch, c.has_history) for c in got) == [
        ("a", "job-a", '["a"]', 1, False),
        ("b", "job-b", '["b"]', 5, False),
    ]
    a = row(store, "a")
    assert (a.status, a.executor_id, a.lease_epoch) == ("PENDING", "me", 1)
    assert (a.started_at, a.updated_at, a.created_at) == (T0 + 250, T0 + 250, T0)
    assert a.deadline_at == T0 + 250 + 5_000  # a timeout runs from the dequeue
    assert row(store, "b").deadline_at is None  # no timeout, no deadline


def test_a_deadline_set_before_the_dequeue_stays(store: Store, clock: Clock) -> None:
    put(store, "a", timeout_ms=5_000)
    set_row(store, "a", deadline_at=T0 + 42)
    assert claim(store) == ["a"]
    assert row(store, "a").deadline_at == T0 + 42


def test_a_start_is_never_before_the_creation(store: Store, clock: Clock) -> None:
    clock.now = T0 + 900  # created after the claimer read its clock
    put(store, "a")
    clock.now = T0
    assert claim(store) == ["a"]
    assert row(store, "a").started_at == T0 + 900


def test_has_history_says_whether_operations_were_recorded(store: Store, clock: Clock) -> None:
    put(store, "a")
    put(store, "b")
    with store.db.write() as conn:
        for app in (store.app_name, store.app_name + "x"):
            conn.execute(
                insert(O).values(
                    app_name=app,
                    workflow_id="a" if app == store.app_name else "b",
                    position=0,
                    kind="step",
                    name="s",
                    completed_at=T0,
                )
            )
    got = store.queues.claim("q", me="me", runnable={"v1"}, live=None, capacity=5)
    assert {c.workflow_id: c.has_history for c in got} == {"a": True, "b": False}


# -- which rows are eligible -----------------------------------------------------------------


def test_a_delayed_row_is_due_at_its_not_before_and_not_a_millisecond_earlier(
    store: Store, clock: Clock
) -> None:
    put(store, "late", delay_ms=1_000)
    put(store, "now")
    clock.now = T0 + 999
    assert claim(store) == ["now"]
    assert not store.queues.has_waiting("q", {"v1"})
    clock.now = T0 + 1_000
    assert store.queues.has_waiting("q", {"v1"})
    assert claim(store) == ["late"]


def test_only_runnable_versions_of_this_app_and_queue_are_claimed(
    store: Store, clock: Clock, database_url: str
) -> None:
    put(store, "v1-row")
    put(store, "v2-row", version="v2")
    put(store, "other-queue", queue="r")
    other = Store(database_url, store.app_name + "x")
    try:
        put(other, "other-app")
        assert claim(store, runnable=set()) == []
        assert claim(store, runnable={"v3"}) == []
        assert claim(store, runnable={"v2"}) == ["v2-row"]
        assert claim(store, runnable={"v1"}) == ["v1-row"]
        assert row(other, "other-app").status == "ENQUEUED"
        assert row(store, "other-queue").status == "ENQUEUED"
    finally:
        other.close()


def test_another_apps_rows_take_no_place_in_the_pick(
    store: Store, clock: Clock, database_url: str
) -> None:
    other = Store(database_url, store.app_name + "x")
    try:
        for w in ("o1", "o2"):  # enqueued first, same queue name, same version
            put(other, w)
        assert not store.queues.has_waiting("q", {"v1"})
        for w in ("a", "b"):
            put(store, w)
        assert store.queues.has_waiting("q", {"v1"})
        assert claim(store, 2) == ["a", "b"]
    finally:
        other.close()


def test_another_apps_running_and_started_rows_spend_none_of_this_apps_budget(
    store: Store, clock: Clock, database_url: str
) -> None:
    other = Store(database_url, store.app_name + "x")
    try:
        running(other, "o1", started_at=T0)
        running(other, "o2", partition_key="A", started_at=T0)
        put(store, "a", partition_key="A")
        assert claim(store, concurrency=1, rate_limit=(1, 10.0), partition_concurrency=1) == ["a"]
    finally:
        other.close()


def test_every_version_when_runnable_says_so(store: Store, clock: Clock) -> None:
    put(store, "a")
    put(store, "b", version="v2")
    assert claim(store, runnable={"*", "v9"}) == ["a", "b"]


def test_only_enqueued_rows_are_claimed(store: Store, clock: Clock) -> None:
    put(store, "a")
    put(store, "b")
    set_row(store, "b", status="SUSPENDED")
    assert claim(store) == ["a"]
    assert row(store, "b").status == "SUSPENDED"


# -- budgets shared with other executors ---------------------------------------------------


def test_global_concurrency_counts_running_rows_of_live_versions(
    store: Store, clock: Clock
) -> None:
    running(store, "r1")  # held by another executor, live version: holds a slot
    running(store, "r2", version="old")  # orphaned: its version runs nowhere
    running(store, "r3", queue="elsewhere")
    for w in "abcd":
        put(store, w)
    assert claim(store, concurrency=3) == ["a", "b"]
    assert claim(store, concurrency=3) == []  # three running now (r1, a, b)


def test_with_every_version_live_orphans_hold_slots_too(store: Store, clock: Clock) -> None:
    running(store, "r1", version="old")
    put(store, "a")
    put(store, "b")
    assert claim(store, concurrency=2, live=None) == ["a"]


def test_worker_concurrency_counts_only_my_rows(store: Store, clock: Clock) -> None:
    running(store, "mine", by="me", version="old")  # mine, whatever its version
    running(store, "theirs")
    for w in "abc":
        put(store, w)
    assert claim(store, worker_concurrency=3) == ["a", "b"]
    assert claim(store, worker_concurrency=3) == []


def test_both_limits_apply_and_the_smaller_wins(store: Store, clock: Clock) -> None:
    running(store, "theirs")
    for w in "abc":
        put(store, w)
    assert claim(store, concurrency=2, worker_concurrency=3) == ["a"]
    assert claim(store, concurrency=9, worker_concurrency=2) == ["b"]


def test_rate_limit_counts_queued_starts_in_the_window(store: Store, clock: Clock) -> None:
    period_ms = 10_000
    running(store, "edge", started_at=T0 - period_ms)  # exactly at the window's start: counts
    running(store, "old", started_at=T0 - period_ms - 1)
    running(store, "elsewhere", queue="r", started_at=T0)
    with store.db.write() as conn:  # a started workflow of no queue does not count
        store.workflows.insert(
            conn,
            workflow_id="direct",
            name="d",
            inputs_json="[]",
            version="v1",
            status="PENDING",
            executor_id="x",
        )
    set_row(store, "direct", started_at=T0)
    for w in "abcd":
        put(store, w)
    assert claim(store, rate_limit=(3, period_ms / 1000)) == ["a", "b"]
    assert claim(store, rate_limit=(3, period_ms / 1000)) == []
    assert claim(store, 1, rate_limit=(3, period_ms / 1000)) == []  # even for one
    clock.now = T0 + 1  # "edge" leaves the window
    assert claim(store, rate_limit=(3, period_ms / 1000)) == ["c"]


def test_rate_limit_after_concurrency_leaves_nothing_is_not_asked(
    store: Store, clock: Clock
) -> None:
    running(store, "theirs")
    put(store, "a")
    assert claim(store, concurrency=1, rate_limit=(5, 1.0)) == []


# -- partitions ------------------------------------------------------------------------------


def test_each_partition_gets_its_free_slots_and_unkeyed_rows_are_unlimited(
    store: Store, clock: Clock
) -> None:
    for w, key in (("a1", "A"), ("a2", "A"), ("a3", "A"), ("b1", "B"), ("n1", None)):
        put(store, w, partition_key=key)
    put(store, "n2")
    put(store, "n3")
    assert claim(store, partition_concurrency=2) == ["a1", "a2", "b1", "n1", "n2", "n3"]
    assert claim(store, partition_concurrency=2) == []


def test_a_partition_slot_is_held_by_its_running_rows_of_live_versions(
    store: Store, clock: Clock
) -> None:
    running(store, "ra", partition_key="A")
    running(store, "rb-orphan", partition_key="B", version="old")
    running(store, "rc-other-queue", partition_key="C", queue="r")
    for w, key in (("a1", "A"), ("b1", "B"), ("c1", "C")):
        put(store, w, partition_key=key)
    assert claim(store, partition_concurrency=1) == ["b1", "c1"]


def test_partition_heads_go_first_by_priority(store: Store, clock: Clock) -> None:
    put(store, "a1", partition_key="A")
    put(store, "a2", partition_key="A")
    put(store, "b1", partition_key="B", priority=1)
    put(store, "c1", partition_key="C")
    # At priority 0 every partition's head (a1, c1) before any second (a2, enqueued
    # before c1); priority before everything (a2 before b1).
    assert claim(store, 2, partition_concurrency=5) == ["a1", "c1"]
    assert claim(store, 1, partition_concurrency=5) == ["a2"]
    assert claim(store, 1, partition_concurrency=5) == ["b1"]


def test_the_partition_served_least_recently_goes_first(store: Store, clock: Clock) -> None:
    running(store, "a0", partition_key="A", started_at=T0 - 5)
    running(store, "b0", partition_key="B", started_at=T0 - 50)
    set_row(store, "a0", status="SUCCESS")
    set_row(store, "b0", status="SUCCESS")
    put(store, "a1", partition_key="A")  # enqueued first, but A was served last
    put(store, "b1", partition_key="B")
    assert claim(store, 1, partition_concurrency=5) == ["b1"]


def test_a_start_older_than_the_fair_window_does_not_count(store: Store, clock: Clock) -> None:
    running(store, "a0", partition_key="A", started_at=T0 - FAIR_WINDOW_MS - 1)
    set_row(store, "a0", status="SUCCESS")
    put(store, "a1", partition_key="A")
    put(store, "b1", partition_key="B")
    # A's start is out of the window: A counts as never served, like B; FIFO between them.
    assert claim(store, 1, partition_concurrency=5) == ["a1"]


def test_a_start_at_the_edge_of_the_fair_window_counts(store: Store, clock: Clock) -> None:
    running(store, "b0", partition_key="B", started_at=T0 - FAIR_WINDOW_MS)
    set_row(store, "b0", status="SUCCESS")
    put(store, "b1", partition_key="B")
    put(store, "a1", partition_key="A")
    assert claim(store, 1, partition_concurrency=5) == ["a1"]


def test_each_partition_is_ranked_by_its_own_last_start(store: Store, clock: Clock) -> None:
    running(store, "a0", partition_key="A", started_at=T0 - 50)
    running(store, "b0", partition_key="B", started_at=T0 - 5)
    for w in ("a0", "b0"):
        set_row(store, w, status="SUCCESS")
    for w in ("b1", "a1", "c1"):
        put(store, w, partition_key=w[0].upper())
    assert claim(store, 1, partition_concurrency=5) == ["c1"]  # never served
    assert claim(store, 1, partition_concurrency=5) == ["a1"]  # served longest ago
    assert claim(store, 1, partition_concurrency=5) == ["b1"]


def test_each_partition_counts_its_own_running_rows(store: Store, clock: Clock) -> None:
    running(store, "ra", partition_key="A")
    running(store, "rb", partition_key="B")
    for w, key in (("a1", "A"), ("a2", "A"), ("b1", "B")):
        put(store, w, partition_key=key)
    assert claim(store, partition_concurrency=2) == ["a1", "b1"]


def test_within_a_partition_priority_comes_before_enqueue_order(store: Store, clock: Clock) -> None:
    put(store, "a1", partition_key="A")
    put(store, "a2", partition_key="A", priority=-1)
    put(store, "b1", partition_key="B")
    assert claim(store, partition_concurrency=1) == ["a2", "b1"]


def test_starts_in_other_queues_do_not_make_a_partition_served(store: Store, clock: Clock) -> None:
    running(store, "a0", partition_key="A", queue="r", started_at=T0 - 5)
    put(store, "a1", partition_key="A")
    put(store, "b1", partition_key="B")
    assert claim(store, 1, partition_concurrency=5) == ["a1"]


def test_starts_in_other_apps_do_not_make_a_partition_served(
    store: Store, clock: Clock, database_url: str
) -> None:
    other = Store(database_url, store.app_name + "x")
    try:
        running(other, "b0", partition_key="B", started_at=T0 - 5)
        put(store, "b1", partition_key="B")
        put(store, "a1", partition_key="A")
        assert claim(store, 1, partition_concurrency=5) == ["b1"]
    finally:
        other.close()


def test_partition_budget_is_per_app(store: Store, clock: Clock, database_url: str) -> None:
    other = Store(database_url, store.app_name + "x")
    try:
        running(other, "ra", partition_key="A")
        put(store, "a1", partition_key="A")
        assert claim(store, partition_concurrency=1) == ["a1"]
    finally:
        other.close()


def test_a_queues_limits_may_change_between_claims(store: Store, clock: Clock) -> None:
    """One store claims with and without partitions (limits change at run time): each
    kind of claim keeps its own statement."""
    for w in ("a1", "a2", "b1"):
        put(store, w, partition_key=w[0].upper())
    assert claim(store, 1) == ["a1"]
    assert claim(store, partition_concurrency=1) == ["b1"]  # A's one slot is taken


@pytest.mark.parametrize(
    "budget",
    [{"concurrency": 1}, {"rate_limit": (1, 60.0)}, {"partition_concurrency": 1}],
    ids=["concurrency", "rate", "partition"],
)
def test_racing_claims_hold_a_shared_limit(
    store: Store, database_url: str, budget: dict[str, Any]
) -> None:
    """Claimers that start together admit one workflow between them under a limit of one
    (Postgres: the per-queue advisory lock; SQLite: its writer lock)."""
    racers = [Store(database_url, store.app_name) for _ in range(4)]
    try:
        for rnd in range(12):
            for i in range(4):
                put(store, f"r{rnd}-{i}", partition_key="P")
            start = threading.Barrier(len(racers))
            got: list[str] = []

            def race(
                s: Store, me: str, start: threading.Barrier = start, got: list[str] = got
            ) -> None:
                start.wait()
                claimed = s.queues.claim(
                    "q", me=me, runnable={"v1"}, live={"v1"}, capacity=1, **budget
                )
                got.extend(c.workflow_id for c in claimed)

            threads = [
                threading.Thread(target=race, args=(s, f"e{n}")) for n, s in enumerate(racers)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            assert len(got) == 1, f"round {rnd}: {got} admitted under a limit of one"
            set_row(store, got[0], status="SUCCESS", started_at=0)  # frees every budget
    finally:
        for s in racers:
            s.close()


# -- Postgres: the pick runs once ------------------------------------------------------------


@pytest.mark.parametrize(
    "budget",
    [{}, {"concurrency": 5}, {"partition_concurrency": 1}],
    ids=["skip-locked", "locked", "partitioned"],
)
@POSTGRES_ONLY
def test_the_pick_is_a_cte_that_runs_once_on_postgres(
    store: Store, clock: Clock, backend: str, budget: dict[str, Any]
) -> None:
    """Inlined as ``IN (subquery)``, the pick may be re-run per outer row (a nested-loop
    semi-join) and claim more than asked; a MATERIALIZED CTE is planned once. Postgres
    never inlines a CTE with FOR UPDATE, but the locked and partitioned picks have none."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().startswith("WITH picked"):
            seen.append((statement, params))

    for w in "abc":
        put(store, w, partition_key=w)
    event.listen(store.db.engine, "before_cursor_execute", capture)
    try:
        assert claim(store, 2, **budget) == ["a", "b"]
    finally:
        event.remove(store.db.engine, "before_cursor_execute", capture)
    [(statement, params)] = seen
    with store.db.engine.connect() as conn:
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, params))
    assert "CTE Scan on picked" in plan, plan


@POSTGRES_ONLY
def test_a_claim_skips_rows_another_transaction_is_taking_on_postgres(
    store: Store, clock: Clock, backend: str
) -> None:
    """With no shared budget, claimers do not queue behind each other: a row locked by
    another transaction (a claim in flight) is skipped, not waited for."""
    put(store, "a")
    put(store, "b")
    got: list[str] = []
    with store.db.engine.connect() as locker, locker.begin():
        locker.execute(
            select(W.c.workflow_id)
            .where(W.c.app_name == store.app_name, W.c.workflow_id == "a")
            .with_for_update()
        )
        worker = threading.Thread(target=lambda: got.extend(claim(store, 1)))
        worker.start()
        worker.join(timeout=5)
        waited = worker.is_alive()
    worker.join(timeout=30)
    assert not waited, "the claim waited for the row another transaction holds"
    assert got == ["b"]


@POSTGRES_ONLY
def test_a_claim_never_takes_a_row_cancelled_while_it_waited_on_postgres(
    store: Store, clock: Clock, backend: str
) -> None:
    """The claim's UPDATE rechecks ENQUEUED: a row its pick saw waiting, then cancelled by a
    transaction it had to wait for, stays cancelled (Postgres re-evaluates the WHERE on the
    committed row)."""
    put(store, "a")
    got: list[str] = []
    with store.db.engine.connect() as canceller:
        tx = canceller.begin()
        canceller.execute(
            update(W)
            .where(W.c.app_name == store.app_name, W.c.workflow_id == "a")
            .values(status="CANCELLED")
        )
        # The locked path (a concurrency budget): its pick takes no row locks, so it sees
        # "a" waiting and its UPDATE blocks on the canceller's row lock.
        worker = threading.Thread(target=lambda: got.extend(claim(store, 1, concurrency=5)))
        worker.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _waits_on_a_lock(store):
            time.sleep(0.01)
        tx.commit()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert got == []
    assert row(store, "a").status == "CANCELLED"


def _waits_on_a_lock(store: Store) -> bool:
    with store.db.engine.connect() as conn:
        n = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'WITH picked%%'"
        ).scalar()
    return bool(n)
