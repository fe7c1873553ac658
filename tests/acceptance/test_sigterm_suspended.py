"""SIGTERM of an executor process holding 1,000 suspended workflows: it exits within its
grace period, every workflow stays suspended and held by nobody (no lease to release, none
for a peer to take over), and a peer started later resumes each one when its message
arrives, without running a step before the wait again."""

from __future__ import annotations

import signal
import time

from sqlalchemy import func, select
from tether.runtime.store.schema import executors as X
from tether.runtime.store.schema import workflows as W

from tether import Status

from .cluster import Cluster

AGENTS = 1000
GRACE = 5.0
LEASE = 10.0  # a takeover by lease expiry could not happen within the test's waits


def rows(cluster: Cluster) -> dict[str, tuple[str, str | None, int]]:
    """workflow id -> (status, holder, lease epoch)."""
    stmt = select(W.c.workflow_id, W.c.status, W.c.executor_id, W.c.lease_epoch).where(
        W.c.app_name == cluster.app_name
    )
    with cluster.observer.store.db.read() as conn:
        return {r.workflow_id: (r.status, r.executor_id, r.lease_epoch) for r in conn.execute(stmt)}


def count(cluster: Cluster, status: str) -> int:
    stmt = select(func.count()).where(W.c.app_name == cluster.app_name, W.c.status == status)
    with cluster.observer.store.db.read() as conn:
        return int(conn.execute(stmt).scalar_one())


def test_sigterm_with_a_thousand_suspended_exits_in_grace_and_leaves_nothing_to_take_over(
    cluster: Cluster,
) -> None:
    timing = {"lease": LEASE, "heartbeat": 0.5, "grace": GRACE}
    a = cluster.spawn("A", agents=AGENTS, wid="ag", steps=2, suspend_after=0, **timing)
    cluster.wait_ready("A")
    cluster.wait(lambda: count(cluster, Status.SUSPENDED) == AGENTS, 120, "every agent to suspend")
    before = rows(cluster)
    assert all(holder is None for _, holder, _ in before.values())

    began = time.monotonic()
    a.send_signal(signal.SIGTERM)
    assert cluster.exit_signal("A", timeout=GRACE + 10) == signal.SIGTERM
    took = time.monotonic() - began
    print(f"SIGTERM with {AGENTS} suspended: exited in {took:.2f} s (grace {GRACE} s)")
    assert took < GRACE, f"A took {took:.1f} s to exit (grace {GRACE} s)"
    with cluster.observer.store.db.read() as conn:
        state = conn.execute(
            select(X.c.state).where(X.c.app_name == cluster.app_name, X.c.executor_id == "A")
        ).scalar_one()
    assert state == "STOPPED"
    # Nothing moved: no lease released, no epoch bumped, nothing for a peer to take over.
    assert rows(cluster) == before

    cluster.spawn("B", **timing)
    cluster.wait_ready("B")
    for wid in sorted(before):
        cluster.observer.send(wid, "go", topic="go")
    cluster.wait(lambda: count(cluster, Status.SUCCESS) == AGENTS, 180, "B to finish every agent")
    steps = cluster.effects("step")
    assert sorted((e["wid"], e["index"]) for e in steps) == sorted(
        (wid, i) for wid in before for i in (0, 1)
    )  # each step once: step 0 on A before the wait, step 1 on B after it
    assert {e["executor"] for e in steps if e["index"] == 1} == {"B"}
    assert not cluster.effects("interrupt")  # no run was stopped: none was running
