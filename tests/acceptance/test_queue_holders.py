"""A queue's slot after its holder is SIGKILLed: a peer takes the workflow over and the slot
with it; a holder whose version no live executor runs never blocks the queue."""

from __future__ import annotations

import signal

from tether import Status

from .queue_cluster import QueueCluster, queue_cluster  # noqa: F401 - the fixture


def test_sigkilled_holders_slot_follows_its_workflow(
    queue_cluster: QueueCluster,  # noqa: F811
) -> None:
    c = queue_cluster
    c.spawn("A", concurrency=1)
    c.spawn("B", concurrency=1)
    c.wait_ready("A", "B")
    long = c.client.enqueue("q", "job", "long", 1.5)
    c.wait(lambda: c.effects("begin", item="long"), 20, "the long job to start")
    holder = c.workflow(long.workflow_id).executor_id
    survivor = "B" if holder == "A" else "A"
    waiting = c.client.enqueue("q", "job", "next", 0.0)
    c.procs[holder].send_signal(signal.SIGKILL)
    assert c.exit_signal(holder) == signal.SIGKILL
    # The survivor recovers the long job after the lease: it holds the one slot now, so
    # "next" waits for it rather than running beside it.
    c.wait(lambda: c.effects("begin", item="long", executor=survivor), 20, "the takeover")
    rec = c.workflow(waiting.workflow_id)
    assert rec is not None and rec.status == Status.ENQUEUED
    assert c.running() == {survivor: 1}
    # When the taken-over job ends, its slot is free again: the queue moves on.
    assert waiting.result(timeout=20) == "next"
    long_end = c.effects("end", item="long")
    next_begin = c.effects("begin", item="next")
    assert [e["executor"] for e in long_end] == [survivor]
    assert next_begin[0]["t"] >= long_end[0]["t"]


def test_orphaned_holder_never_blocks_the_queue(queue_cluster: QueueCluster) -> None:  # noqa: F811
    c = queue_cluster
    c.spawn("OLD", version="v0", concurrency=1)
    c.spawn("NEW", version="v1", concurrency=1)
    c.wait_ready("OLD", "NEW")
    stuck = c.client.enqueue("q", "job", "old work", 30.0, version="v0")
    c.wait(lambda: c.effects("begin", item="old work"), 20, "the v0 job to start")
    c.procs["OLD"].send_signal(signal.SIGKILL)
    assert c.exit_signal("OLD") == signal.SIGKILL
    # Once its lease expired no live executor runs v0: the PENDING job is orphaned, holds
    # no slot, and new v1 work runs at once.
    c.wait(lambda: c.observer.orphaned() == {"v0": 1}, 20, "v0 to be orphaned")
    h = c.client.enqueue("q", "job", "new work", 0.0, version="v1")
    assert h.result(timeout=5) == "new work"
    rec = c.workflow(stuck.workflow_id)
    assert rec is not None and (rec.status, rec.version) == (Status.PENDING, "v0")
