"""A workflow timeout survives a SIGKILL: the deadline fires while a peer runs it."""

from __future__ import annotations

import json
import signal

from tether import Status

from .cluster import Cluster


def test_a_timeout_fires_after_a_sigkill_and_takeover(cluster: Cluster) -> None:
    cluster.spawn("B")
    a = cluster.spawn("A", start=1, wid="w", steps=40, pause=0.2, workflow_timeout=4.0)
    cluster.wait_ready("A", "B")
    cluster.wait(lambda: cluster.effects("step", executor="A", index=2), 20, "A to reach step 2")
    a.kill()
    assert cluster.exit_signal("A") == signal.SIGKILL
    cluster.wait(lambda: cluster.effects("step", executor="B"), 20, "B to take the workflow over")
    rec = cluster.wait(lambda: cluster.finished("w"), 20, "the deadline to end the workflow")
    assert rec.status == Status.CANCELLED
    assert rec.error is not None and rec.error["type"].endswith("WorkflowTimeoutError")
    # B was stopped by the cancellation at a step boundary, well before the 40 steps.
    cluster.wait(lambda: cluster.effects("interrupt", executor="B"), 10, "B to stop the workflow")
    [stop] = cluster.effects("interrupt", executor="B")
    assert stop["kind"] == "CancelledInterrupt", json.dumps(stop)
    assert max(cluster.step_counts("w")) < 39
    assert rec.created_at + 4000 <= (rec.completed_at or 0)
