"""A holder paused *between* steps past its lease runs no step body a peer has since
checkpointed: before a step body it checks its own lease (runtime.selfcheck) and stops."""

from __future__ import annotations

import signal

from tether import Status

from .cluster import Cluster


def test_paused_between_steps_runs_no_step_again(cluster: Cluster) -> None:
    cluster.spawn("B")
    hold = cluster.dir / "hold"
    a = cluster.spawn("A", start=1, wid="w", steps=4, hold_at=2, hold_file=str(hold))
    cluster.wait_ready("A", "B")
    cluster.wait(lambda: cluster.effects("holding", executor="A"), 20, "A to finish step 1")
    cluster.pause("A")  # after checkpointing steps 0 and 1, before step 2
    assert cluster.writers("w") == {0: "A", 1: "A"}
    hold.touch()  # A would go on at once when it wakes

    rec = cluster.wait(lambda: cluster.finished("w"), 20, "B to claim and finish w")
    assert rec.status == Status.SUCCESS and rec.output == [0, 1, 2, 3]
    a.send_signal(signal.SIGCONT)

    cluster.wait(
        lambda: cluster.effects("interrupt", executor="A", kind="LeaseLostInterrupt"),
        10,
        "A to notice it lost the workflow",
    )
    assert cluster.step_counts("w") == {0: 1, 1: 1, 2: 1, 3: 1}  # step 2 ran once: on B
    assert cluster.writers("w") == {0: "A", 1: "A", 2: "B", 3: "B"}
    assert a.poll() is None  # A lives on
