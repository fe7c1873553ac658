"""SIGKILL an executor mid-workflow: a peer of its version finishes the work, nothing reruns."""

from __future__ import annotations

import signal
import time
from collections import Counter

from sqlalchemy import select
from tether.runtime.store.schema import executors as X

from tether import Status

from .cluster import Cluster

HEARTBEAT = 0.2  # worker.py's default


def test_sigkill_mid_workflow_peer_finishes_after_lease_without_rerunning_steps(
    cluster: Cluster,
) -> None:
    cluster.spawn("B")
    a = cluster.spawn("A", start=1, wid="w", steps=6, pause=0.4)
    cluster.wait_ready("A", "B")
    cluster.wait(lambda: cluster.effects("step", executor="A", index=2), 20, "A to reach step 2")
    killed_at = time.time()
    a.kill()
    assert cluster.exit_signal("A") == signal.SIGKILL

    rec = cluster.wait(lambda: cluster.finished("w"), 20, "B to finish the workflow")
    assert rec.status == Status.SUCCESS
    assert rec.output == list(range(6))

    # Outside the framework: every step began exactly once, except the one A was in when
    # it died, which B had to run again.
    by_a = [e["index"] for e in cluster.effects("step", executor="A")]
    by_b = [e["index"] for e in cluster.effects("step", executor="B")]
    in_flight = max(by_a)
    counts = cluster.step_counts("w")
    assert set(counts) == set(range(6))
    assert {i: n for i, n in counts.items() if n != 1} in ({}, {in_flight: 2})
    assert by_b == list(range(min(by_b), 6)) and min(by_b) in (in_flight, in_flight + 1)
    # A's checkpoints stand; B wrote every later one.
    writers = cluster.writers("w")
    assert all(writers[i] == "A" for i in range(min(by_b)))
    assert all(writers[i] == "B" for i in range(min(by_b), 6))
    # B waited for A's lease to expire: its first step began after A's last heartbeat plus
    # A's lease (an ordering on one clock, which a slow machine cannot make flaky).
    first_b = min(e["t"] for e in cluster.effects("step", executor="B"))
    with cluster.observer.store.db.read() as conn:
        heartbeat_at, lease_ms = conn.execute(
            select(X.c.heartbeat_at, X.c.lease_timeout_ms).where(
                X.c.app_name == cluster.app_name, X.c.executor_id == "A"
            )
        ).one()
    assert heartbeat_at / 1000 <= killed_at
    assert first_b * 1000 >= heartbeat_at + lease_ms


def test_three_peers_race_for_a_dead_executors_workflows_each_runs_once(
    cluster: Cluster,
) -> None:
    n = 100
    # A lease with room for scheduling stalls of a busy machine: a live peer that missed
    # heartbeats for a whole lease would rightly be taken for dead.
    lease = 2.0
    for peer in "BCD":
        cluster.spawn(peer, lease=lease)
    # A's workflows checkpoint step 0, then wait at step 1 until the gate opens.
    a = cluster.spawn("A", start=n, wid="w", steps=3, gated_from=1, lease=lease)
    cluster.wait_ready("A", "B", "C", "D")
    cluster.wait(
        lambda: sum(1 for r in cluster.operations() if r.position == 0) == n,
        30,
        f"A to checkpoint step 0 of all {n} workflows",
    )
    a.kill()
    cluster.exit_signal("A")
    cluster.gate.touch()

    def all_done() -> bool:
        done = cluster.observer.list_workflows(status=Status.SUCCESS, limit=n + 1)
        return len(done) == n

    cluster.wait(all_done, 45, f"the peers to finish all {n} workflows")
    assert not cluster.observer.list_workflows(status=[s for s in Status.ALL if s != "SUCCESS"])

    steps = cluster.effects("step")
    per_step = Counter((e["wid"], e["index"]) for e in steps)
    assert len(per_step) == 3 * n
    assert set(per_step.values()) == {1}, "a step ran more than once"
    assert {e["executor"] for e in steps if e["index"] == 0} == {"A"}
    ran_by = Counter(e["executor"] for e in steps if e["index"] > 0)
    assert set(ran_by) <= {"B", "C", "D"}
    assert len(ran_by) >= 2, f"one peer took everything: {ran_by}"
    # Each workflow ran on one peer only: its two later steps share a writer.
    writers: dict[str, set[str]] = {}
    for r in cluster.operations():
        if r.position > 0:
            writers.setdefault(r.workflow_id, set()).add(r.executor_id)
    assert len(writers) == n and all(len(w) == 1 for w in writers.values())
