"""compatible_with: a v2 process that declares v1 compatible recovers a SIGKILLed v1 executor's
workflows; a v3 process that does not declare it never touches them."""

from __future__ import annotations

from typing import Any

from tether.runtime.clock import now_ms

from tether import Status

from .cluster import LEASE, Cluster


def spawn(
    cluster: Cluster, executor_id: str, version: str, *compatible: str, **options: Any
) -> Any:
    options = {"lease": LEASE, "wid": "w", "gated_from": 1, **options}
    return cluster.spawn(executor_id, version=version, compatible_with=compatible, **options)


def test_compatible_version_recovers_killed_executors_workflows(cluster: Cluster) -> None:
    wids = ["w-0", "w-1", "w-2"]
    a = spawn(cluster, "A", "v1", start=len(wids))
    # Step 0 is *checkpointed* for every workflow (not merely begun): only then is it
    # certain that no executor runs it again.
    cluster.wait_ready("A")
    cluster.wait(
        lambda: all(cluster.writers(w).get(0) == "A" for w in wids),
        20,
        "A (v1) to checkpoint step 0 of every workflow",
    )
    a.kill()
    cluster.exit_signal("A")
    cluster.gate.touch()  # from now on any executor that took a workflow would run it

    spawn(cluster, "C", "v3")
    cluster.wait_ready("C")
    cluster.wait(lambda: cluster.observer.orphaned() == {"v1": 3}, 10, "v1's work to be orphaned")
    since = now_ms()
    cluster.wait(
        lambda: any(
            e.executor_id == "C" and e.heartbeat_at >= since + LEASE * 1000
            for e in cluster.observer.executors()
        ),
        10,
        "C (v3) to stay live for another lease while A's lease has expired",
    )
    for w in wids:
        rec = cluster.workflow(w)
        assert rec is not None and (rec.status, rec.executor_id) == (Status.PENDING, "A")
    assert not cluster.effects("step", executor="C")

    spawn(cluster, "B", "v2", "v1")
    for w in wids:
        rec = cluster.wait(lambda w=w: cluster.finished(w), 20, f"B (v2) to finish {w}")
        assert (rec.status, rec.output, rec.version) == (Status.SUCCESS, [0, 1, 2], "v1")
        assert cluster.step_counts(w) == {0: 1, 1: 1, 2: 1}
        assert cluster.writers(w) == {0: "A", 1: "B", 2: "B"}
    assert {e["executor"] for e in cluster.effects("step")} == {"A", "B"}
    assert cluster.observer.orphaned() == {}
    [b] = [e for e in cluster.observer.executors() if e.executor_id == "B"]
    assert set(b.runnable_versions) == {"v1", "v2"}
    v1 = next(v for v in cluster.observer.versions() if v.version == "v1")
    assert (v1.executors, v1.runnable_by, v1.open_total) == (0, 1, 0)
