"""Pure lease decisions: who is alive, how much one executor claims, which versions are orphaned."""

from __future__ import annotations

from tether.runtime.leases import claim_share, is_alive, orphaned_versions

LEASE = 10_000


def test_alive_while_heartbeat_within_lease() -> None:
    assert is_alive(heartbeat_at=1_000, state="RUNNING", now=1_000, lease_timeout_ms=LEASE)
    assert is_alive(heartbeat_at=1_000, state="RUNNING", now=11_000, lease_timeout_ms=LEASE)
    assert not is_alive(heartbeat_at=1_000, state="RUNNING", now=11_001, lease_timeout_ms=LEASE)


def test_draining_is_alive_but_stopped_never_is() -> None:
    assert is_alive(heartbeat_at=5_000, state="DRAINING", now=5_000, lease_timeout_ms=LEASE)
    assert not is_alive(heartbeat_at=5_000, state="STOPPED", now=5_000, lease_timeout_ms=LEASE)


def test_claim_share_splits_work_among_live_peers() -> None:
    assert claim_share(claimable=10, live_peers=3, free_slots=100, max_batch=64) == 4
    assert claim_share(claimable=10, live_peers=1, free_slots=100, max_batch=64) == 10


def test_claim_share_is_bounded_by_capacity_and_batch() -> None:
    assert claim_share(claimable=100, live_peers=1, free_slots=5, max_batch=64) == 5
    assert claim_share(claimable=100, live_peers=1, free_slots=100, max_batch=8) == 8


def test_claim_share_nothing_to_do() -> None:
    assert claim_share(claimable=0, live_peers=1, free_slots=10, max_batch=64) == 0
    assert claim_share(claimable=10, live_peers=1, free_slots=0, max_batch=64) == 0
    # No live peer registered yet (this executor counts as one): take everything it can.
    assert claim_share(claimable=3, live_peers=0, free_slots=10, max_batch=64) == 3
    assert claim_share(claimable=10, live_peers=1, free_slots=10, max_batch=0) == 0


def test_claim_share_at_one() -> None:
    """The boundaries: one claimable workflow, one free slot."""
    assert claim_share(claimable=1, live_peers=1, free_slots=10, max_batch=64) == 1
    assert claim_share(claimable=1, live_peers=5, free_slots=10, max_batch=64) == 1
    assert claim_share(claimable=10, live_peers=1, free_slots=1, max_batch=64) == 1


def test_orphaned_versions_are_those_no_live_executor_runs() -> None:
    open_by_version = {"v1": 3, "v2": 1, "v9": 2, "v0": 0}
    live = [("v1",), ("v2", "v1")]
    assert orphaned_versions(open_by_version, live) == {"v9": 2}


def test_everything_is_orphaned_without_live_executors() -> None:
    assert orphaned_versions({"v1": 1, "v2": 4}, []) == {"v1": 1, "v2": 4}
