"""A stale holder (paused past its lease) cannot write once a peer has claimed its workflow."""

from __future__ import annotations

import signal

from tether import Status

from .cluster import Cluster


def test_stale_holder_resumed_after_a_claim_writes_no_checkpoint(cluster: Cluster) -> None:
    cluster.spawn("B")
    a = cluster.spawn("A", start=1, wid="w", steps=4, pause=0.6)
    cluster.wait_ready("A", "B")
    cluster.wait(lambda: cluster.effects("step", executor="A", index=1), 20, "A to reach step 1")
    cluster.pause("A")  # inside step 1, which it has not checkpointed
    assert cluster.writers("w") == {0: "A"}

    claimed = cluster.wait(
        lambda: (rec := cluster.workflow("w")) and rec.executor_id == "B" and rec,
        10,
        "B to claim w after A's lease expired",
    )
    assert claimed.lease_epoch >= 1
    a.send_signal(signal.SIGCONT)

    # A wakes inside step 1, finishes it and tries to checkpoint: the fence refuses it.
    cluster.wait(
        lambda: cluster.effects("interrupt", executor="A", kind="LeaseLostInterrupt"),
        10,
        "A to be fenced out",
    )
    rec = cluster.wait(lambda: cluster.finished("w"), 20, "B to finish w")
    assert rec.status == Status.SUCCESS and rec.output == [0, 1, 2, 3]
    assert cluster.writers("w") == {0: "A", 1: "B", 2: "B", 3: "B"}
    assert [e["index"] for e in cluster.effects("step", executor="A")] == [0, 1]
    assert [e["index"] for e in cluster.effects("step", executor="B")] == [1, 2, 3]
    assert a.poll() is None  # A lives on; it just lost this workflow
