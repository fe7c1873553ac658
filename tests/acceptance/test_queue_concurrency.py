"""Three worker processes share one queue: its global and per-executor limits hold, as
sampled from the database while they run, and every job runs exactly once."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .queue_cluster import QueueCluster, queue_cluster  # noqa: F401 - the fixture


def test_limits_hold_across_three_processes(queue_cluster: QueueCluster) -> None:  # noqa: F811
    c = queue_cluster
    for name in "ABC":
        c.spawn(name, concurrency=3, worker_concurrency=2)
    c.wait_ready("A", "B", "C")
    handles = [c.client.enqueue("q", "job", i, 0.25) for i in range(18)]
    samples: list[dict[str, int]] = []

    def all_done() -> bool:
        samples.append(c.running())
        return all(c.finished(h.workflow_id) for h in handles)

    c.wait(all_done, 60, "the jobs to finish")
    assert max(sum(s.values()) for s in samples) == 3  # the global limit, reached
    assert max(n for s in samples for n in s.values()) <= 2  # per executor
    assert len(samples) >= 3  # sampled while they ran (a loaded machine samples slowly)
    # Outside the framework: each job began once, and at most three overlapped.
    begins = c.effects("begin")
    assert Counter(e["item"] for e in begins) == Counter(range(18))
    ends = {e["item"]: e["t"] for e in c.effects("end")}
    overlap = max(sum(1 for b in begins if b["t"] <= e["t"] < ends[b["item"]]) for e in begins)
    assert overlap <= 3
    assert len({e["executor"] for e in begins}) >= 2


def max_overlap(begins: list[dict[str, Any]], ends: dict[Any, float]) -> int:
    """The most jobs running at one instant, from the begin/end effect lines."""
    return max(sum(1 for b in begins if b["t"] <= e["t"] < ends[b["item"]]) for e in begins)


def test_a_global_limit_of_one_holds_against_many_racing_executors(
    queue_cluster: QueueCluster,  # noqa: F811
) -> None:
    """Six executors wake together each time the running job ends and race to claim the next
    one: without the claim's serialization (the per-queue advisory lock on Postgres, and a
    pick that runs once) two of them admit a job each."""
    c = queue_cluster
    names = "ABCDEF"
    for name in names:
        c.spawn(name, concurrency=1)
    c.wait_ready(*names)
    handles = [c.client.enqueue("q", "job", i, 0.05) for i in range(40)]
    c.wait(lambda: all(c.finished(h.workflow_id) for h in handles), 90, "the jobs to finish")
    begins = c.effects("begin")
    assert Counter(e["item"] for e in begins) == Counter(range(40))
    ends = {e["item"]: e["t"] for e in c.effects("end")}
    assert max_overlap(begins, ends) == 1
    assert len({e["executor"] for e in begins}) >= 2  # they did race
