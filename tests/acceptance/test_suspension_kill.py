"""An executor SIGKILLed while it resumes suspended workflows: a peer finishes them, every
message is received once and no step before the wait runs again."""

from __future__ import annotations

import signal

from tether import Status

from .cluster import Cluster

AGENTS = 20


def test_executor_killed_while_resuming_loses_nothing(cluster: Cluster) -> None:
    wids = [f"ag-{i}" for i in range(AGENTS)]
    a = cluster.spawn("A", agents=AGENTS, wid="ag", steps=3, gated_from=1, suspend_after=0.05)
    cluster.wait_ready("A")
    obs = cluster.observer

    def status(wid: str) -> str | None:
        rec = cluster.workflow(wid)
        return rec.status if rec else None

    cluster.wait(
        lambda: all(status(w) == Status.SUSPENDED for w in wids), 30, "every agent to suspend"
    )
    for w in wids:
        obs.send(w, "go", topic="go")
    # A resumes them (only A is live) and stops in step 1, which waits for the gate.
    cluster.wait(
        lambda: all((r := cluster.workflow(w)) and r.executor_id == "A" for w in wids),
        30,
        "A to resume every agent",
    )
    a.kill()
    assert cluster.exit_signal("A") == signal.SIGKILL
    cluster.spawn("B")
    cluster.gate.touch()
    for w in wids:
        rec = cluster.wait(lambda w=w: cluster.finished(w), 30, f"B to finish {w}")
        assert rec.status == Status.SUCCESS
        assert rec.output == ["go", 0, 1, 2]
        # Outside the framework: step 0 ran once (on A, before the wait), steps after it
        # once each (on B: A died before its gated step began).
        assert cluster.step_counts(w) == {0: 1, 1: 1, 2: 1}
    assert {e["executor"] for e in cluster.effects("step") if e["index"] > 0} == {"B"}
