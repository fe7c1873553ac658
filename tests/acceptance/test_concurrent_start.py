"""One workflow id started at the same moment from two processes is one execution."""

from __future__ import annotations

from .cluster import Cluster


def test_same_workflow_id_started_from_two_processes_runs_once(cluster: Cluster) -> None:
    go = cluster.dir / "go"
    for ex in "AB":
        cluster.spawn(
            ex, go=go, start=1, wid="same", steps=3, pause=0.05, wait_result=True, lease=2.0
        )
    cluster.wait_ready("A", "B")
    go.touch()

    cluster.wait(lambda: len(cluster.effects("result")) == 2, 20, "both results")
    results = cluster.effects("result")
    # Both callers got the one run's result; each process saw it under the same id.
    assert sorted((e["executor"], e["wid"], e["value"]) for e in results) == [
        ("A", "same", [0, 1, 2]),
        ("B", "same", [0, 1, 2]),
    ]
    steps = cluster.effects("step", wid="same")
    assert sorted(e["index"] for e in steps) == [0, 1, 2]
    assert len({e["executor"] for e in steps}) == 1
    assert len(set(cluster.writers("same").values())) == 1
    assert len(cluster.observer.list_workflows()) == 1
