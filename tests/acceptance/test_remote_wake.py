"""A message or an event committed by another process wakes a waiting workflow at once.

Executor A runs the waiting workflows with a 30 s poll interval, so only a notification can
wake them in time: on Postgres the NOTIFY of the sending transaction, on SQLite A's
``data_version`` watcher. The sender is another process (this test's un-launched app, like a
Client or ``tether send``, or a second executor for events). Each wake is timed from just
before the send to the step after the wait, both written on this machine's clock.
"""

from __future__ import annotations

import statistics
import time

from tether import Status

from .cluster import Cluster

WAITERS = 8
POLL = 30.0  # the old path: a waiter in memory looked again only after this
# Far below POLL (and below the recovery interval of the suspended case), far above the
# tens of milliseconds a notification takes, even on a loaded 2-core machine.
BOUND = 3.0


def _step_at(cluster: Cluster, wid: str, index: int) -> float:
    rows = cluster.effects("step", wid=wid, index=index)
    return float(rows[0]["t"]) if rows else 0.0


def _message_each(cluster: Cluster, wids: list[str]) -> list[float]:
    """Send each waiter its message in turn; the seconds from send to its next step."""
    took = []
    for w in wids:
        sent = time.time()
        cluster.observer.send(w, "go", topic="go")
        # Past BOUND it fails (the old path would have taken POLL).
        at = cluster.wait(lambda w=w: _step_at(cluster, w, 1), BOUND, f"{w} to resume")
        took.append(at - sent)
    return took


def _check(took: list[float], what: str) -> None:
    print(f"{what}: p50 {statistics.median(took) * 1000:.1f} ms, max {max(took) * 1000:.1f} ms")
    assert max(took) < BOUND, f"{what}: a wake took {max(took):.2f} s ({took})"


def test_send_from_another_process_wakes_a_waiter_held_in_memory(cluster: Cluster) -> None:
    wids = [f"ag-{i}" for i in range(WAITERS)]
    cluster.spawn("A", agents=WAITERS, wid="ag", steps=2, no_suspend=True, poll=POLL)
    cluster.wait_ready("A")
    cluster.wait(lambda: all(_step_at(cluster, w, 0) for w in wids), 30, "every agent to wait")
    time.sleep(0.2)  # so that each is inside recv (a message found at once would prove less)
    _check(_message_each(cluster, wids), "held recv")
    for w in wids:
        rec = cluster.wait(lambda w=w: cluster.finished(w), 30, f"{w} to finish")
        assert rec.status == Status.SUCCESS and rec.output == ["go", 0, 1]


def test_send_from_another_process_resumes_a_suspended_waiter(cluster: Cluster) -> None:
    wids = [f"ag-{i}" for i in range(WAITERS)]
    # A recovery round only every 30 s: what resumes them in time is the wake-up alone.
    cluster.spawn(
        "A", agents=WAITERS, wid="ag", steps=2, suspend_after=0.05, poll=POLL, recovery=POLL
    )
    cluster.wait_ready("A")
    cluster.wait(
        lambda: all((r := cluster.workflow(w)) and r.status == Status.SUSPENDED for w in wids),
        30,
        "every agent to suspend",
    )
    _check(_message_each(cluster, wids), "suspended recv")
    assert all(cluster.step_counts(w) == {0: 1, 1: 1} for w in wids)


def test_event_set_in_another_process_wakes_a_get_event_held_in_memory(
    cluster: Cluster,
) -> None:
    wids = [f"wa-{i}" for i in range(WAITERS)]
    go = cluster.dir / "go"
    cluster.spawn("A", watchers=WAITERS, wid="wa", target="setter", no_suspend=True, poll=POLL)
    cluster.spawn("B", set_event=True, wid="setter", poll=POLL, go=go)
    cluster.wait_ready("A", "B")
    cluster.wait(lambda: all(_step_at(cluster, w, 0) for w in wids), 30, "every watcher to wait")
    began = max(_step_at(cluster, w, 0) for w in wids)
    # A get_event polls with a doubling interval: from 10.3 s of waiting on, it next looks
    # at 20.5 s. Set the event inside that window, so that only a wake-up is in time.
    time.sleep(max(0.0, began + 11.0 - time.time()))
    go.touch()
    set_at = cluster.wait(lambda: cluster.effects("set"), 30, "B to set the event")[0]["t"]
    woke = [cluster.wait(lambda w=w: _step_at(cluster, w, 1), BOUND, w) for w in wids]
    _check([t - set_at for t in woke], "held get_event")
