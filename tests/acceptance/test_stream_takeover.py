"""A stream read live across a SIGKILL and a peer's takeover: no gap, no duplicate."""

from __future__ import annotations

import signal
import threading
from typing import Any

from tether import Status

from .cluster import Cluster


def test_a_stream_read_across_a_takeover_has_no_gap_or_duplicate(cluster: Cluster) -> None:
    cluster.spawn("B", stream=True)
    a = cluster.spawn("A", start=1, wid="w", steps=6, pause=0.3, stream=True)
    cluster.wait_ready("A", "B")
    cluster.wait(lambda: cluster.workflow("w"), 20, "A to start the workflow")
    live: list[Any] = []
    reader = threading.Thread(
        target=lambda: live.extend(cluster.observer.read_stream("w", "out", timeout=30))
    )
    reader.start()
    cluster.wait(lambda: cluster.effects("step", executor="A", index=2), 20, "A to reach step 2")
    a.kill()
    assert cluster.exit_signal("A") == signal.SIGKILL
    first = list(cluster.observer.read_stream("w", "out", timeout=0))  # what A wrote
    rec = cluster.wait(lambda: cluster.finished("w"), 20, "B to finish the workflow")
    assert rec.status == Status.SUCCESS
    reader.join(timeout=20)
    assert not reader.is_alive()
    assert live == list(range(6))
    # A reader that stopped resumes from its offset and gets exactly the rest.
    rest = list(cluster.observer.read_stream("w", "out", offset=len(first)))
    assert first + rest == list(range(6))
    assert cluster.effects("step", executor="B")  # B really took over
