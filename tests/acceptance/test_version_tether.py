"""A workflow tethered to a dead version waits, reported orphaned, for an executor of it."""

from __future__ import annotations

from tether.runtime.clock import now_ms

from tether import Status

from .cluster import LEASE, Cluster


def test_other_version_never_touches_it_until_a_matching_executor_appears(
    cluster: Cluster,
) -> None:
    a = cluster.spawn("A", version="v1", start=1, wid="w", steps=4, pause=0.2)
    cluster.spawn("B", version="v2")
    cluster.wait_ready("A", "B")
    cluster.wait(lambda: cluster.effects("step", executor="A", index=1), 20, "A to reach step 1")
    a.kill()
    cluster.exit_signal("A")

    cluster.wait(lambda: cluster.observer.orphaned() == {"v1": 1}, 10, "w to be orphaned")
    held = cluster.workflow("w")
    assert held is not None and held.executor_id == "A"
    # B (v2) stays live for another full lease, recovering every 50 ms, while w is
    # claimable by any v1 executor; it must leave w alone.
    since = now_ms()
    cluster.wait(
        lambda: any(
            e.executor_id == "B" and e.heartbeat_at >= since + LEASE * 1000
            for e in cluster.observer.executors()
        ),
        10,
        "B to heartbeat for another lease",
    )
    still = cluster.workflow("w")
    assert still is not None
    assert (still.status, still.executor_id, still.lease_epoch) == (
        Status.PENDING,
        "A",
        held.lease_epoch,
    )
    assert not cluster.effects("step", executor="B")
    assert cluster.observer.orphaned() == {"v1": 1}

    cluster.spawn("C", version="v1")
    rec = cluster.wait(lambda: cluster.finished("w"), 20, "C (v1) to finish w")
    assert rec.status == Status.SUCCESS and rec.output == [0, 1, 2, 3]
    assert {e["executor"] for e in cluster.effects("step")} == {"A", "C"}
    assert set(cluster.writers("w").values()) <= {"A", "C"}
    assert cluster.observer.orphaned() == {}
