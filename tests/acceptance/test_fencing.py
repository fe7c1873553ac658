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


def test_a_restart_with_the_same_executor_id_fences_out_the_old_process(
    cluster: Cluster,
) -> None:
    """Executor ids are reused (``TETHER_EXECUTOR_ID``, a Cloud Run instance id, a restart
    recovering its own rows): the lease epoch, not the id, says who may write. The old
    process, paused past its lease while a new process with its id took its workflow over,
    wakes up and must not checkpoint under the old epoch."""
    old = cluster.spawn("A", name="A-old", start=1, wid="w", steps=4, pause=0.6)
    cluster.wait_ready("A")
    cluster.wait(lambda: cluster.effects("step", pid=old.pid, index=1), 20, "A to reach step 1")
    cluster.pause("A-old")  # inside step 1, which it has not checkpointed
    epoch = cluster.workflow("w").lease_epoch  # type: ignore[union-attr]

    new = cluster.spawn("A", name="A-new")  # launches and recovers its own executor id's rows
    claimed = cluster.wait(
        lambda: (rec := cluster.workflow("w")) and rec.lease_epoch > epoch and rec,
        20,
        "the new process to take w over",
    )
    assert claimed.executor_id == "A"
    old.send_signal(signal.SIGCONT)

    cluster.wait(
        lambda: cluster.effects("interrupt", pid=old.pid, kind="LeaseLostInterrupt"),
        10,
        "the old process to be fenced out",
    )
    rec = cluster.wait(lambda: cluster.finished("w"), 20, "the new process to finish w")
    assert rec.status == Status.SUCCESS and rec.output == [0, 1, 2, 3]
    assert [e["index"] for e in cluster.effects("step", pid=old.pid)] == [0, 1]
    assert [e["index"] for e in cluster.effects("step", pid=new.pid)] == [1, 2, 3]
