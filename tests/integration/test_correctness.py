"""Correctness of queue claims: fairness across partitions, and start times."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import update
from tether.runtime.clock import now_ms
from tether.runtime.store.schema import workflows as W

from tether import Tether

from .queue_helpers import Recorder, queued_app


def test_partitions_take_turns_at_equal_priority(make_app: Callable[..., Tether]) -> None:
    """A busy partition's backlog does not run before four small partitions get a turn."""
    rec = Recorder()
    app, q = queued_app(make_app, rec, launch=False, worker_concurrency=1, partition_concurrency=1)
    app.store.migrate()
    big = [
        q.enqueue("job", f"big{i}", key="big", partition_key="big", version="v1") for i in range(6)
    ]
    small = [
        q.enqueue("job", f"s{i}", key=f"s{i}", partition_key=f"s{i}", version="v1")
        for i in range(4)
    ]
    app.launch()
    for h in big + small:
        h.result(timeout=30)
    # One run at a time: every small partition is served within the first five runs.
    assert set(rec.order[:5]) == {"big0", "s0", "s1", "s2", "s3"}
    assert [x for x in rec.order if x.startswith("big")] == [f"big{i}" for i in range(6)]


def test_a_claim_never_starts_a_workflow_before_it_was_created(
    make_app: Callable[..., Tether],
) -> None:
    """A row committed after the claimer read its clock still starts at or after creation."""
    rec = Recorder()
    app, q = queued_app(make_app, rec, launch=False)
    app.store.migrate()
    h = q.enqueue("job", "x", version="v1")
    later = now_ms() + 3_000  # as if created after the claimer's clock read
    with app.store.db.write() as conn:
        conn.execute(
            update(W)
            .where(W.c.app_name == app.app_name, W.c.workflow_id == h.workflow_id)
            .values(created_at=later)
        )
    app.launch()
    assert h.result(timeout=10) == "x"
    r = app.get_workflow(h.workflow_id)
    assert r.started_at is not None and r.started_at >= r.created_at
