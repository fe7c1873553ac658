"""SIGTERM drains: the in-flight step finishes, the lease is released, a peer goes on at once."""

from __future__ import annotations

import signal
import time

from sqlalchemy import select
from tether.runtime.store.schema import executors as X

from tether import Status

from .cluster import Cluster

LONG_LEASE = 10.0  # a takeover by lease expiry could not happen before this


def test_sigterm_hands_the_workflow_to_a_peer_before_its_lease_expires(cluster: Cluster) -> None:
    timing = {"lease": LONG_LEASE, "heartbeat": 0.5}
    cluster.spawn("B", **timing)
    a = cluster.spawn("A", start=1, wid="w", steps=6, pause=0.3, **timing)
    cluster.wait_ready("A", "B")
    cluster.wait(lambda: cluster.effects("step", executor="A", index=1), 20, "A to reach step 1")
    terminated_at = time.time()
    a.send_signal(signal.SIGTERM)

    def first_checkpoint_by_b() -> float | None:
        times = [r.completed_at for r in cluster.operations("w") if r.executor_id == "B"]
        return min(times) / 1000 if times else None

    taken_over = cluster.wait(first_checkpoint_by_b, LONG_LEASE, "B's first checkpoint")
    assert cluster.exit_signal("A") == signal.SIGTERM
    # B went on before A's lease could have expired (an ordering on one clock, which a slow
    # machine cannot make flaky): A released the workflow when it drained.
    with cluster.observer.store.db.read() as conn:
        heartbeat_at, lease_ms, state = conn.execute(
            select(X.c.heartbeat_at, X.c.lease_timeout_ms, X.c.state).where(
                X.c.app_name == cluster.app_name, X.c.executor_id == "A"
            )
        ).one()
    assert state == "STOPPED" and lease_ms == LONG_LEASE * 1000
    assert terminated_at <= taken_over < (heartbeat_at + lease_ms) / 1000

    rec = cluster.wait(lambda: cluster.finished("w"), 20, "B to finish w")
    assert rec.status == Status.SUCCESS and rec.output == list(range(6))
    # A let its step in flight finish and checkpoint it, so nothing ran twice.
    assert set(cluster.step_counts("w").values()) == {1}
    writers = cluster.writers("w")
    handed_at = min(p for p, ex in writers.items() if ex == "B")
    assert handed_at >= 2
    assert [writers[p] for p in range(6)] == ["A"] * handed_at + ["B"] * (6 - handed_at)
    assert cluster.effects("interrupt", executor="A", kind="DrainingInterrupt")
