"""Queues on SQLite and Postgres: order, limits, deduplication, delay, partitions, versions."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import update
from tether.runtime.errors import ConfigurationError, DeduplicatedError, WorkflowConflictError
from tether.runtime.store.schema import workflows as W

from tether import Client, Status, Tether

from .helpers import wait_until
from .queue_helpers import Recorder, queued_app


def started_at(app: Tether, ids: list[str]) -> list[int]:
    return [app.get_workflow(wid).started_at or 0 for wid in ids]


def test_priority_then_fifo(make_app: Callable[..., Tether]) -> None:
    rec = Recorder()
    producer, q = queued_app(make_app, rec, launch=False, worker_concurrency=1)
    producer.store.migrate()
    priorities = [5, 1, 5, 0, 1, 0, 5]
    ids = [
        q.enqueue("job", i, priority=p, version="v1").workflow_id for i, p in enumerate(priorities)
    ]
    worker, _ = queued_app(make_app, rec, worker_concurrency=1)
    for wid in ids:
        worker.retrieve_workflow(wid).result(timeout=20)
    expected = sorted(range(len(priorities)), key=lambda i: (priorities[i], i))
    assert rec.order == expected
    assert producer.get_workflow(ids[0]).queue_name == "q"


def test_dedup_reject_and_return_existing(make_app: Callable[..., Tether]) -> None:
    rec = Recorder()
    app, q = queued_app(make_app, rec, launch=False)

    @app.workflow(name="other")
    def other() -> None:
        return None

    app.launch()
    first = q.enqueue("job", 1, hold=0.3, dedup_id="customer-7")
    with pytest.raises(DeduplicatedError) as err:
        q.enqueue("job", 2, dedup_id="customer-7")
    assert err.value.holder_id == first.workflow_id
    same = q.enqueue("job", 3, dedup_id="customer-7", on_duplicate="return_existing")
    assert same.workflow_id == first.workflow_id
    assert first.result(timeout=10) == 1
    # Once the holder finished, the dedup id is free again.
    again = q.enqueue("job", 4, dedup_id="customer-7")
    assert again.workflow_id != first.workflow_id and again.result(timeout=10) == 4
    assert rec.order == [1, 4]
    # The same workflow id is idempotent; reused for another workflow it is refused.
    assert q.enqueue("job", 5, workflow_id=again.workflow_id).workflow_id == again.workflow_id
    with pytest.raises(WorkflowConflictError, match="already belongs"):
        q.enqueue(other, workflow_id=again.workflow_id)


def test_delay_holds_back_only_the_delayed_one(make_app: Callable[..., Tether]) -> None:
    rec = Recorder()
    app, q = queued_app(make_app, rec)
    late = q.enqueue("job", "late", delay=1.0)
    now = q.enqueue("job", "now")
    assert now.result(timeout=10) == "now"
    assert late.result(timeout=10) == "late"
    r = app.get_workflow(late.workflow_id)
    assert r.started_at is not None and r.started_at - r.created_at >= 1000
    assert rec.order == ["now", "late"]


def test_worker_concurrency_and_partitions(make_app: Callable[..., Tether]) -> None:
    rec = Recorder()
    app, q = queued_app(make_app, rec, worker_concurrency=3, partition_concurrency=1)
    handles = [
        q.enqueue("job", f"{key}{i}", hold=0.15, key=key, partition_key=key)
        for i in range(3)
        for key in ("a", "b", "c", "d")
    ]
    for h in handles:
        h.result(timeout=30)
    assert rec.peak["*"] == 3  # the executor's limit, reached
    assert all(rec.peak[key] == 1 for key in "abcd")  # one at a time per partition
    # FIFO within each partition.
    assert [x for x in rec.order if x.startswith("a")] == ["a0", "a1", "a2"]


def test_rate_limit_over_a_sliding_window(make_app: Callable[..., Tether]) -> None:
    rec = Recorder()
    app, q = queued_app(make_app, rec, rate_limit=(3, 0.5))
    handles = [q.enqueue("job", i) for i in range(7)]
    for h in handles:
        h.result(timeout=20)
    starts = sorted(started_at(app, [h.workflow_id for h in handles]))
    for i, t in enumerate(starts):
        assert sum(1 for s in starts[i:] if s < t + 500) <= 3
    assert starts[-1] - starts[0] >= 1000  # 7 starts need at least three windows


def test_global_concurrency_across_executors(make_app: Callable[..., Tether]) -> None:
    rec = Recorder()
    # Three executors of one each could run three at once: the global two holds them back.
    apps = [queued_app(make_app, rec, concurrency=2, worker_concurrency=1)[0] for _ in range(3)]
    q = apps[0].queue("q", concurrency=2, worker_concurrency=1)
    handles = [q.enqueue("job", i, hold=0.1) for i in range(10)]
    for h in handles:
        h.result(timeout=30)
    assert rec.peak["*"] == 2
    holders = {apps[0].get_workflow(h.workflow_id).executor_id for h in handles}
    assert len(holders) >= 2


def test_only_runnable_versions_are_dequeued(make_app: Callable[..., Tether]) -> None:
    rec = Recorder()
    v1, q = queued_app(make_app, rec, version="v1")
    for_v2 = q.enqueue("job", "two", version="v2")
    assert q.enqueue("job", "one").result(timeout=10) == "one"
    assert v1._dispatch.runner is not None
    v1._dispatch.runner.round()
    assert for_v2.status() == Status.ENQUEUED and rec.order == ["one"]
    assert v1.orphaned() == {"v2": 1}
    v2, _ = queued_app(make_app, rec, version="v2")
    assert v2.retrieve_workflow(for_v2.workflow_id).result(timeout=10) == "two"
    assert v2.get_workflow(for_v2.workflow_id).version == "v2"


def test_slot_of_a_gone_holder(make_app: Callable[..., Tether]) -> None:
    """The slot follows a workflow whose holder died to the peer that takes it over; a
    workflow that no live executor can run holds no slot at all."""
    rec = Recorder()
    app, q = queued_app(make_app, rec, launch=False, concurrency=1)
    app.store.migrate()
    orphan = q.enqueue("job", "orphan", version="v-gone")
    stranded = q.enqueue("job", "stranded", version="v1")
    with app.store.db.write() as conn:  # both were running on an executor that vanished
        for wid in (orphan.workflow_id, stranded.workflow_id):
            conn.execute(
                update(W)
                .where(W.c.app_name == app.app_name, W.c.workflow_id == wid)
                .values(status=Status.PENDING, executor_id="vanished", lease_epoch=1)
            )
    nxt = q.enqueue("job", "next", version="v1")
    worker, _ = queued_app(make_app, rec, concurrency=1)
    assert worker.retrieve_workflow(nxt.workflow_id).result(timeout=20) == "next"
    # The peer recovered "stranded" first (it held the only slot), then dequeued "next";
    # the orphan never counted and still waits for an executor of its version.
    assert rec.order == ["stranded", "next"]
    assert orphan.status() == Status.PENDING
    assert worker.get_workflow(stranded.workflow_id).executor_id == worker.executor_id


def test_bad_queue_options_are_refused(make_app: Callable[..., Tether]) -> None:
    app = make_app()
    app.store.migrate()
    with pytest.raises(ConfigurationError, match="concurrency"):
        app.queue("a", concurrency=0)
    with pytest.raises(ConfigurationError, match="rate_limit"):
        app.queue("b", rate_limit=(0, 1.0))
    app.queue("c", concurrency=2)
    with pytest.raises(ConfigurationError, match="different limits"):
        app.queue("c", concurrency=3)
    with pytest.raises(ConfigurationError, match="no current version"):
        app.queue("c", concurrency=2).enqueue("job")


def test_enqueue_from_workflow_code_is_recorded_once(make_app: Callable[..., Tether]) -> None:
    rec = Recorder()
    app, q = queued_app(make_app, rec, launch=False)

    @app.workflow(name="parent")
    def parent() -> object:
        return q.enqueue("job", "child").result(timeout=10)

    app.launch()

    assert app.start_workflow("parent", workflow_id="p").result(timeout=20) == "child"
    ops = app.list_steps("p")
    assert [(op.kind, op.name, op.child_id) for op in ops] == [("enqueue", "job", "p-0")]
    assert app.get_workflow("p-0").queue_name == "q"


def test_wait_for_work_when_idle(
    make_app: Callable[..., Tether], database_url: str, app_name: str
) -> None:
    """An idle worker is woken by an enqueue from another client (Postgres NOTIFY; on SQLite
    the watch on PRAGMA data_version), not by its fallback poll: that is set to a minute here,
    so only the wake-up can start the jobs within the test's deadline."""
    rec = Recorder()
    app, _ = queued_app(make_app, rec, app_options={"poll_interval": 60.0})
    with Client(database_url, app_name) as client:
        for item in (1, 2):  # the second arrives while the worker is idle again
            h = client.enqueue("q", "job", item)
            assert h.result(timeout=15) == item
            wait_until(lambda: not app.engine.running_ids(), what="the worker to go idle")
    assert rec.order == [1, 2]


def test_undecodable_inputs_end_in_error_not_a_held_slot(make_app: Callable[..., Tether]) -> None:
    rec = Recorder()
    app, q = queued_app(make_app, rec, launch=False, concurrency=1)
    app.store.migrate()
    bad = q.enqueue("job", 1, version="v1")
    with app.store.db.write() as conn:
        conn.execute(
            update(W)
            .where(W.c.app_name == app.app_name, W.c.workflow_id == bad.workflow_id)
            .values(inputs='{"args": 5}')
        )
    good = q.enqueue("job", 2, version="v1")
    worker, _ = queued_app(make_app, rec, concurrency=1)
    assert worker.retrieve_workflow(good.workflow_id).result(timeout=10) == 2
    assert worker.get_workflow(bad.workflow_id).status == Status.ERROR


def test_async_workflow_enqueues_in_call_order(make_app: Callable[..., Tether]) -> None:
    import asyncio

    rec = Recorder()
    app, q = queued_app(make_app, rec, launch=False)

    @app.workflow(name="fan_out")
    async def fan_out() -> list[object]:
        handles = await asyncio.gather(q.enqueue_async("job", "a"), q.enqueue_async("job", "b"))
        return [await h.result_async(timeout=10) for h in handles]

    app.launch()

    assert app.start_workflow("fan_out", workflow_id="f").result(timeout=20) == ["a", "b"]
    ops = [(op.position, op.kind, op.child_id) for op in app.list_steps("f")]
    assert ops == [(0, "enqueue", "f-0"), (1, "enqueue", "f-1")]
    assert [app.get_workflow(f"f-{i}").inputs["args"] for i in (0, 1)] == [["a"], ["b"]]


def test_resumed_queued_workflow_goes_back_through_its_queue(
    make_app: Callable[..., Tether],
) -> None:
    rec = Recorder()
    producer, q = queued_app(make_app, rec, launch=False)
    producer.store.migrate()
    h = q.enqueue("job", 7, version="v1")
    producer.cancel(h.workflow_id)
    producer.resume(h.workflow_id)
    rec_row = producer.get_workflow(h.workflow_id)
    assert (rec_row.status, rec_row.queue_name) == (Status.ENQUEUED, "q")  # not PENDING
    worker, _ = queued_app(make_app, rec)
    assert worker.retrieve_workflow(h.workflow_id).result(timeout=20) == 7
