"""Checkpoints at the store level: the fenced write, its repeat, and the history reads.

A real database (SQLite file, and Postgres when configured); workflow rows are laid out by
hand so that each test names exactly who holds what at which epoch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, update
from tether.runtime.records import OperationRecord
from tether.runtime.store import Fence, Store
from tether.runtime.store import operations as operations_module
from tether.runtime.store.schema import workflows as W

NOW = 1_800_000_000_000


@pytest.fixture
def store(database_url: str, app_name: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setattr(operations_module, "now_ms", lambda: NOW)
    s = Store(database_url, app_name)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def other(store: Store, database_url: str) -> Iterator[Store]:
    """A second app in the same database."""
    s = Store(database_url, store.app_name + "x")
    yield s
    s.close()


def workflow(
    store: Store, wid: str, *, holder: str | None = "e1", epoch: int = 1, status: str = "PENDING"
) -> Fence:
    with store.db.write() as conn:
        store.workflows.insert(
            conn,
            workflow_id=wid,
            name="wf",
            inputs_json="[]",
            version="v1",
            status=status,
            executor_id=holder,
        )
        conn.execute(
            update(W)
            .where(W.c.app_name == store.app_name, W.c.workflow_id == wid)
            .values(lease_epoch=epoch)
        )
    return Fence(wid, holder or "", epoch)


def record(store: Store, fence: Fence, op: OperationRecord, **kw: Any) -> bool:
    with store.db.write() as conn:
        return store.operations.record(conn, fence, op, version=kw.pop("version", "v1"), **kw)


def step(position: int, name: str = "s", **kw: Any) -> OperationRecord:
    kw.setdefault("output", f'"{name}-{position}"')
    return OperationRecord(position=position, kind="step", name=name, **kw)


# -- the fenced write --------------------------------------------------------------------------


def test_the_holder_records_every_field(store: Store) -> None:
    fence = workflow(store, "w")
    op = OperationRecord(
        position=0,
        kind="step",
        name="charge",
        output='"ok"',
        error='"e"',
        child_id="c1",
        attempts=3,
        started_at=NOW - 70,
        completed_at=NOW - 5,
    )
    assert record(store, fence, op, version="v7")
    assert store.operations.history("w") == [
        OperationRecord(
            position=0,
            kind="step",
            name="charge",
            output='"ok"',
            error='"e"',
            child_id="c1",
            version="v7",
            attempts=3,
            started_at=NOW - 70,
            completed_at=NOW - 5,
            executor_id="e1",
        )
    ]


def test_an_operation_without_times_starts_and_completes_when_recorded(store: Store) -> None:
    fence = workflow(store, "w")
    assert record(store, fence, step(0))
    assert record(store, fence, step(1, completed_at=NOW - 9))
    assert [(o.started_at, o.completed_at) for o in store.operations.history("w")] == [
        (NOW, NOW),
        (NOW - 9, NOW - 9),
    ]


@pytest.mark.parametrize(
    ("holder", "epoch", "status", "fence_as"),
    [
        ("e2", 1, "PENDING", ("e1", 1)),  # another executor holds it
        ("e1", 2, "PENDING", ("e1", 1)),  # same executor id, a later claim (a reused id)
        ("e1", 1, "SUCCESS", ("e1", 1)),  # no longer running
        (None, 1, "PENDING", ("e1", 1)),  # released
    ],
)
def test_a_writer_that_no_longer_holds_the_lease_writes_nothing(
    store: Store, holder: str | None, epoch: int, status: str, fence_as: tuple[str, int]
) -> None:
    workflow(store, "w", holder=holder, epoch=epoch, status=status)
    then: list[Connection] = []
    fence = Fence("w", *fence_as)
    written = record(store, fence, step(0), then=then.append)
    assert not written
    assert then == []
    assert store.operations.history("w") == []


def test_the_fence_is_per_app(store: Store, other: Store) -> None:
    """Two apps may share a database, a workflow id and an executor id."""
    workflow(other, "w", holder="e1", epoch=1)
    workflow(store, "w", holder="e2", epoch=1)
    assert not record(store, Fence("w", "e1", 1), step(0))
    assert store.operations.history("w") == []
    assert other.operations.history("w") == []


def test_then_runs_in_the_recording_transaction(store: Store) -> None:
    fence = workflow(store, "w")
    seen: list[Connection] = []
    with store.db.write() as conn:
        assert store.operations.record(conn, fence, step(0), version="v1", then=seen.append)
        assert seen == [conn]


def test_a_repeat_of_a_committed_write_is_done_and_its_effect_not_repeated(
    store: Store,
) -> None:
    fence = workflow(store, "w")
    effects: list[Connection] = []
    assert record(store, fence, step(0), then=effects.append)
    assert record(store, fence, step(0, output='"different"'), then=effects.append)
    assert len(effects) == 1
    assert [o.output for o in store.operations.history("w")] == ['"s-0"']


def test_a_position_recorded_by_a_former_holder_is_not_mine(store: Store) -> None:
    old = workflow(store, "w", holder="e1", epoch=1)
    assert record(store, old, step(0))
    with store.db.write() as conn:
        conn.execute(
            update(W)
            .where(W.c.app_name == store.app_name, W.c.workflow_id == "w")
            .values(executor_id="e2", lease_epoch=2)
        )
    new = Fence("w", "e2", 2)
    assert not record(store, new, step(0))
    with store.db.read() as conn:
        assert store.operations.recorded_by(conn, new, 0) is None
        assert store.operations.recorded_by(conn, old, 0) is None  # no longer holding


def test_recorded_by_answers_for_the_holder_at_its_position_and_app(
    store: Store, other: Store
) -> None:
    fence = workflow(store, "w")
    workflow(other, "w")
    assert record(store, fence, step(0))
    assert record(store, fence, step(1))
    with store.db.read() as conn:
        assert store.operations.recorded_by(conn, fence, 1) == ('"s-1"',)
        assert store.operations.recorded_by(conn, fence, 2) is None
        assert store.operations.recorded_by(conn, Fence("w", "e9", 1), 1) is None
        assert store.operations.recorded_by(conn, Fence("w", "e1", 2), 1) is None
    with other.db.read() as conn:
        assert other.operations.recorded_by(conn, fence, 1) is None


def test_set_error_changes_only_the_named_operation(store: Store, other: Store) -> None:
    for s in (store, other):
        fence = workflow(s, "w")
        for p in (0, 1):
            assert record(s, fence, step(p, child_id=f"c{p}"))
    fence2 = workflow(store, "w2")
    assert record(store, fence2, step(1, child_id="c1"))
    with store.db.write() as conn:
        store.operations.set_error(conn, "w", 1, '"refused"')
    got = [(o.position, o.error, o.child_id) for o in store.operations.history("w")]
    assert got == [(0, None, "c0"), (1, '"refused"', None)]
    assert [(o.error, o.child_id) for o in store.operations.history("w2")] == [(None, "c1")]
    assert [(o.error, o.child_id) for o in other.operations.history("w")][1] == (None, "c1")


def test_a_fence_knows_since_when_it_held() -> None:
    before = time.monotonic()
    f = Fence("w", "e1", 3)
    assert before <= f.held_since <= time.monotonic()
    assert (f.workflow_id, f.executor_id, f.epoch) == ("w", "e1", 3)
    assert Fence("w", "e1", 3, held_since=12.5).held_since == 12.5


# -- reads -------------------------------------------------------------------------------------


def test_history_is_in_position_order_and_per_app(store: Store, other: Store) -> None:
    fence = workflow(store, "w")
    for p in (2, 0, 1):
        assert record(store, fence, step(p))
    assert record(other, workflow(other, "w"), step(0, "theirs"))
    assert [o.position for o in store.operations.history("w")] == [0, 1, 2]
    with store.db.read() as conn:
        assert [o.position for o in store.operations.history("w", conn=conn)] == [0, 1, 2]
    assert [o.name for o in other.operations.history("w")] == ["theirs"]
    assert store.operations.history("nope") == []


def test_histories_reads_many_workflows_at_once(store: Store, other: Store) -> None:
    for wid in ("a", "b", "c"):
        fence = workflow(store, wid)
        for p in (1, 0):
            assert record(store, fence, step(p, wid))
    assert record(other, workflow(other, "a"), step(5, "theirs"))
    got = store.operations.histories(["b", "a", "missing"])
    assert sorted(got) == ["a", "b"]
    assert [(o.position, o.name, o.executor_id) for o in got["a"]] == [
        (0, "a", "e1"),
        (1, "a", "e1"),
    ]
    assert got["b"] == store.operations.history("b")
    assert store.operations.histories([]) == {}


def marker(
    store: Store, wid: str, name: str, *, status: str = "PENDING", kind: str = "patch"
) -> None:
    fence = workflow(store, wid)
    assert record(store, fence, OperationRecord(position=0, kind=kind, name=name))
    if status != "PENDING":
        with store.db.write() as conn:
            conn.execute(
                update(W)
                .where(W.c.app_name == store.app_name, W.c.workflow_id == wid)
                .values(status=status)
            )


def test_named_counts_count_workflows_and_the_open_ones(store: Store, other: Store) -> None:
    marker(store, "a", "p1")
    marker(store, "b", "p1", status="SUCCESS")
    marker(store, "c", "p1", status="SUSPENDED")
    marker(store, "d", "p2", status="ERROR")
    marker(store, "e", "p3", kind="step")
    marker(other, "z", "p1")
    fence = Fence("a", "e1", 1)
    assert record(store, fence, OperationRecord(position=1, kind="patch", name="p1"))
    assert store.operations.named_counts("patch") == {"p1": (3, 2), "p2": (1, 0)}


def test_open_holders_name_the_open_workflows_per_name(store: Store, other: Store) -> None:
    marker(store, "a", "p1")
    marker(store, "b", "p1", status="SUCCESS")
    marker(store, "c", "p1", status="ENQUEUED")
    marker(store, "d", "p2")
    marker(store, "e", "p3")
    marker(store, "f", "p1", kind="step")
    marker(other, "z", "p1")
    assert store.operations.open_holders("patch", ["p1", "p2"]) == {"p1": {"a", "c"}, "p2": {"d"}}
    assert store.operations.open_holders("patch", []) == {}


def test_the_fence_is_per_workflow(store: Store) -> None:
    """Holding one workflow at an epoch is no licence to write another's history."""
    workflow(store, "mine", holder="e1", epoch=1)
    workflow(store, "theirs", holder="e2", epoch=1)
    assert not record(store, Fence("theirs", "e1", 1), step(0))
    assert store.operations.history("theirs") == []


def test_history_on_the_callers_connection_sees_its_uncommitted_writes(store: Store) -> None:
    fence = workflow(store, "w")
    with store.db.write() as conn:
        assert store.operations.record(conn, fence, step(0), version="v1")
        assert [o.position for o in store.operations.history("w", conn=conn)] == [0]


def test_counts_and_holders_read_the_status_of_this_apps_workflow(
    store: Store, other: Store
) -> None:
    """Another app's workflow of the same id (open there) says nothing about this one."""
    marker(store, "a", "p1", status="SUCCESS")
    workflow(other, "a")  # open in the other app
    assert store.operations.named_counts("patch") == {"p1": (1, 0)}
    assert store.operations.open_holders("patch", ["p1"]) == {}


def test_batch_reads_on_the_callers_connection_see_its_uncommitted_writes(store: Store) -> None:
    fence = workflow(store, "w")
    ops = store.operations
    with store.db.write() as conn:
        marker_op = OperationRecord(position=0, kind="patch", name="p1")
        assert ops.record(conn, fence, marker_op, version="v1")
        assert [o.name for o in ops.histories(["w"], conn=conn)["w"]] == ["p1"]
        assert ops.named_counts("patch", conn=conn) == {"p1": (1, 1)}
        assert ops.open_holders("patch", ["p1"], conn=conn) == {"p1": {"w"}}
