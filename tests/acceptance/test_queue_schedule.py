"""A schedule shared by three executor processes fires exactly once per tick."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from .queue_cluster import QueueCluster, queue_cluster  # noqa: F401 - the fixture


def test_three_executors_fire_each_tick_once(queue_cluster: QueueCluster) -> None:  # noqa: F811
    c = queue_cluster
    for name in "ABC":
        c.spawn(name, schedule="* * * * * *")
    c.wait_ready("A", "B", "C")
    c.wait(lambda: len(c.effects("tick")) >= 4, 30, "four ticks")
    ticks = c.effects("tick")
    per_tick = Counter(e["at"] for e in ticks)
    assert set(per_tick.values()) == {1}, per_tick  # never twice, whoever fired it
    seconds = sorted(dt.datetime.fromisoformat(at) for at in per_tick)
    gaps = {(b - a).total_seconds() for a, b in zip(seconds, seconds[1:], strict=False)}
    assert gaps == {1.0}  # and no tick skipped while the executors ran
    assert all(e["wid"] == f"tick@{e['at'][:19]}Z" for e in ticks)
