"""Pure decisions about executors, leases and claims (no I/O; unit-tested directly)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

ALL_VERSIONS = "*"  # in a runnable set: every version of the app


def is_alive(heartbeat_at: int, state: str, now: int, lease_timeout_ms: int) -> bool:
    """An executor is alive while it heartbeats within the lease timeout and has not stopped."""
    return state != "STOPPED" and now - heartbeat_at <= lease_timeout_ms


def claim_share(claimable: int, live_peers: int, free_slots: int, max_batch: int) -> int:
    """How many workflows one executor claims in one round.

    Each live peer takes an equal share (rounded up) so that a fleet starting together
    splits the work instead of one executor grabbing everything, bounded by this
    executor's free capacity and a per-round cap.
    """
    if claimable <= 0 or free_slots <= 0:
        return 0
    share = math.ceil(claimable / max(1, live_peers))
    return max(0, min(share, free_slots, max_batch))


def orphaned_versions(
    open_by_version: Mapping[str, int], live_runnable: Iterable[Iterable[str]]
) -> dict[str, int]:
    """Versions with open work that no live executor can run, with their open counts.

    ``"*"`` in a runnable set means every version of the app (``compatible_with=["*"]``).
    """
    runnable: set[str] = set()
    for versions in live_runnable:
        runnable.update(versions)
    if ALL_VERSIONS in runnable:
        return {}
    return {v: n for v, n in open_by_version.items() if n > 0 and v not in runnable}


def is_crash_takeover(
    *, holder: str | None, holder_known: bool, holder_state: str | None, own: bool
) -> bool:
    """Whether taking over a workflow counts as a recovery attempt: only when its holder
    crashed (its lease expired with the workflow still held, or a process with the same
    executor id died holding it). A clean handover (SIGTERM drain, shutdown, a released
    lease after cancel/resume/migrate) is no attempt: a workflow that only waits, across
    many restarts of autoscaled instances, must never run out of attempts.
    """
    if holder is None:
        return False  # released on purpose
    if own:
        return True  # held by an earlier process with our id: it never released it
    if not holder_known:
        return True  # the holder's executor row is gone: nothing vouches for a clean stop
    return holder_state != "STOPPED"  # a holder that stopped cleanly but kept the row


def strays(
    held: Mapping[str, int], local: Iterable[str], suspects: Mapping[str, int]
) -> tuple[list[str], dict[str, int]]:
    """The self-audit: which workflows this executor holds in the database but does not run.

    ``held`` maps each workflow id it holds to its lease epoch; ``local`` are the ids it
    runs in memory; ``suspects`` is what the previous audit found. A row is acted on only
    when the previous audit found it too at the same epoch (a start or a claim between
    writing its row and starting the run is not a stray). Returns (re-run these, the
    suspects for the next audit).
    """
    running = set(local)
    now = {wid: epoch for wid, epoch in held.items() if wid not in running}
    act = sorted(wid for wid, epoch in now.items() if suspects.get(wid) == epoch)
    return act, {wid: epoch for wid, epoch in now.items() if wid not in act}
