"""A write whose commit was acknowledged to no one is repeated, and reports what it did.

The connection can break after the database committed and before the client heard
(``COMMIT`` sent, then a failover). ``Database.writing`` repeats the work on a fresh
connection; the repeat must neither do the work twice nor report it as not done. The fault
is injected on a real database: the first transaction commits, then the caller sees the
error a dropped connection raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError
from tether.runtime.clock import now_ms
from tether.runtime.records import Status
from tether.runtime.store import Store
from tether.runtime.store.retention import RetentionStore
from tether.runtime.store.rollouts import RolloutStore


@pytest.fixture
def store(database_url: str, app_name: str) -> Iterator[Store]:
    s = Store(database_url, app_name)
    s.migrate()
    yield s
    s.close()


@contextmanager
def unacknowledged_commit(store: Store) -> Iterator[list[int]]:
    """The next write transaction commits, then its caller sees a dropped connection."""
    real = store.db.write
    left = [1]

    @contextmanager
    def write(*, single_statement: bool = False) -> Iterator[Connection]:
        with real(single_statement=single_statement) as conn:
            yield conn
        if left[0]:
            left[0] -= 1
            raise OperationalError(
                "COMMIT",
                {},
                Exception("server closed the connection unexpectedly"),
                connection_invalidated=True,
            )

    store.db.write = write  # type: ignore[method-assign]
    try:
        yield left
    finally:
        del store.db.write
    assert left == [0], "the fault was never injected"


def _row(store: Store, wid: str, *, status: str = Status.PENDING, **extra: Any) -> None:
    def write(conn: Connection) -> bool:
        return store.workflows.insert(
            conn,
            workflow_id=wid,
            name="flow",
            inputs_json="[]",
            version="v1",
            status=status,
            executor_id=None,
            parent_id=extra.pop("parent_id", None),
            extra=extra or None,
        )

    assert store.db.writing(write)


def _cancel(store: Store) -> Any:
    _row(store, "p")
    _row(store, "c", parent_id="p")
    with unacknowledged_commit(store):
        return sorted(store.workflows.cancel_tree("p")), ["c", "p"]


def _expire(store: Store) -> Any:
    _row(store, "late", deadline_at=1, timeout_ms=1)
    with unacknowledged_commit(store):
        return store.timeouts.expire("late", now_ms()), ["late"]


def _move(store: Store) -> Any:
    _row(store, "m")
    with unacknowledged_commit(store):
        moved = store.lineage.move(
            "m",
            from_version="v1",
            to_version="v2",
            epoch=0,
            history_length=0,
            lease_timeout_ms=1000,
            moved_by="test",
            detail={},
        )
    return (moved, len(store.lineage.moves("m"))), (True, 1)


def _delete(store: Store) -> Any:
    _row(store, "done", status=Status.SUCCESS)
    with unacknowledged_commit(store):
        return store.deletion.delete("done"), ["done"]


def _retention(store: Store) -> Any:
    _row(store, "old", status=Status.SUCCESS, completed_at=1)
    with unacknowledged_commit(store):
        ids, _ = RetentionStore(store.db, store.app_name).delete_batch(now_ms(), 10)
    return ids, ["old"]


def _rollout_event(store: Store) -> Any:
    rollouts = RolloutStore(store.db, store.app_name)
    with unacknowledged_commit(store):
        first = rollouts.record("r1", "gate:1", "gate", {"ok": True})
    again = rollouts.record("r1", "gate:1", "gate", {"ok": False})  # another's: not this call's
    return (first, again, len(rollouts.events("r1"))), (True, False, 1)


def _schedule(source: str = "api") -> dict[str, Any]:
    return dict(
        workflow_name="flow",
        cron="0 3 * * *",
        timezone="UTC",
        missed="skip",
        queue_name=None,
        source=source,
        replace=False,
    )


def _schedule_put(store: Store) -> Any:
    with unacknowledged_commit(store):
        return store.schedules.put("nightly", **_schedule()), True


def _schedule_remove(store: Store) -> Any:
    store.schedules.put("nightly", **_schedule())
    with unacknowledged_commit(store):
        return store.schedules.remove("nightly"), True


def _schedule_gone_from_code(store: Store) -> Any:
    store.schedules.put("old", **_schedule(source="code"))
    with unacknowledged_commit(store):
        return store.schedules.remove_code_schedules_except(set()), ["old"]


def _queue_change(store: Store) -> Any:
    store.queue_config.declare([("q", {"concurrency": 1})], "v1")
    with unacknowledged_commit(store):
        change = store.queue_config.change("q", {"concurrency": 2}, [], "ops")
    return (change.after, len(store.queue_config.changes("q"))), ({"concurrency": 2}, 1)


# Each sets up its rows, then runs the write under test inside the fault: (got, expected).
CASES: dict[str, Callable[[Store], Any]] = {
    "cancel": _cancel,
    "expire": _expire,
    "move": _move,
    "delete": _delete,
    "retention": _retention,
    "rollout-event": _rollout_event,
    "schedule-put": _schedule_put,
    "schedule-remove": _schedule_remove,
    "schedule-gone-from-code": _schedule_gone_from_code,
    "queue-change": _queue_change,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_repeat_reports_what_the_unheard_commit_did(case: str, store: Store) -> None:
    got, expected = CASES[case](store)
    assert got == expected
