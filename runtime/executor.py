"""The executor loop: heartbeat, cancellation, recovery by claiming, graceful drain.

An executor claims PENDING workflows of versions it can run whose holder is released,
stopped or dead (heartbeat older than the lease timeout). Claims are atomic and bump the
fencing epoch; each round takes a bounded share so that a fleet starting together splits
the work instead of stampeding.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from . import serialization, timeouts
from .errors import CancelledInterrupt, DrainingInterrupt, TetherError
from .leases import claim_share
from .records import Status

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger("tether.executor")


class Executor:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._beat: threading.Thread | None = None
        self.stopped = False

    @property
    def _lease_ms(self) -> int:
        return int(self.engine.settings.lease_timeout * 1000)

    def start(self) -> None:
        self._register("RUNNING")
        # Heartbeats get their own thread: a long recovery round must never let this
        # executor's lease lapse (peers would take its workflows and rerun their steps).
        self._beat = threading.Thread(target=self._beat_loop, name="tether-heartbeat", daemon=True)
        self._beat.start()
        self.recover(include_own=True)
        self._thread = threading.Thread(target=self._run, name="tether-executor", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Run a recovery round now (after a resume, say) instead of at the next tick."""
        self._wake.set()

    def _beat_loop(self) -> None:
        interval = self.engine.settings.heartbeat_interval
        while not self._stop.wait(interval):
            try:
                self.heartbeat()
            except Exception:  # noqa: BLE001 - keep beating through database blips
                log.exception("executor heartbeat failed; retrying")

    def _run(self) -> None:
        s = self.engine.settings
        # Jitter the first round so a fleet starting together does not query in lockstep.
        next_recovery = time.monotonic() + random.uniform(0, s.recovery_interval)
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                if now >= next_recovery or self._wake.is_set():
                    self._wake.clear()
                    timeouts.sweep(self.engine.store)  # cancels; the holder stops below
                    self.poll_cancellations()
                    claimed = 0 if self.engine.draining else self.recover()
                    # A round takes a bounded share; after a claim, look again sooner so a
                    # dead peer's backlog drains in a few rounds rather than a few seconds.
                    interval = s.recovery_interval / 4 if claimed else s.recovery_interval
                    next_recovery = now + interval
            except Exception:  # noqa: BLE001 - keep the loop alive through database blips
                log.exception("executor loop round failed; retrying")
            self._wake.wait(max(0.0, next_recovery - time.monotonic()))

    def heartbeat(self) -> None:
        e = self.engine
        state = "DRAINING" if e.draining else "RUNNING"
        if not e.store.executors.heartbeat(e.executor_id, state=state, runnable=e.runnable()):
            self._register(state)  # the row was removed: write it again

    def _register(self, state: str) -> None:
        e = self.engine
        e.store.executors.register(
            e.executor_id,
            version=e.version,
            runnable=e.runnable(),
            host=socket.gethostname(),
            pid=os.getpid(),
            lease_timeout_ms=self._lease_ms,
            state=state,
        )

    def poll_cancellations(self) -> None:
        e = self.engine
        ids = e.running_ids()
        if not ids:
            return
        for wid, status in e.store.workflows.statuses(ids).items():
            if status == Status.CANCELLED:
                e.signal(wid, CancelledInterrupt)

    def recover(self, *, include_own: bool = False) -> int:
        """Claim a bounded share of workflows whose holder is gone; returns how many."""
        return len(self.claim_round(include_own=include_own))

    def claim_round(self, *, include_own: bool = False) -> list[str]:
        """One recovery round: the ids of the workflows it claimed (and now runs)."""
        e = self.engine
        free = e.free_slots()
        if free <= 0 or e.draining:
            return []
        runnable = e.runnable()
        store = e.store
        candidates = store.executors.find_claimable(
            runnable,
            lease_timeout_ms=self._lease_ms,
            limit=max(free, e.settings.claim_batch) * 4,
            own_executor_id=e.executor_id if include_own else None,
        )
        candidates = [c for c in candidates if not e.is_local(c.workflow_id)]
        if not candidates:
            return []
        live = [
            x
            for x in store.executors.list(self._lease_ms, include_stopped=False)
            if set(x.runnable_versions) & set(runnable)
        ]
        want = claim_share(len(candidates), max(1, len(live)), free, e.settings.claim_batch)
        random.shuffle(candidates)
        claimed: list[str] = []
        for c in candidates:
            if len(claimed) >= want:
                break
            if self._claim(c):
                claimed.append(c.workflow_id)
        if claimed:
            log.info("executor %s claimed %d workflow(s)", e.executor_id, len(claimed))
        return claimed

    def _claim(self, c: Any) -> bool:
        """Take one candidate row (from ``find_claimable``) and run it."""
        e = self.engine
        wid, holder, epoch = c.workflow_id, c.executor_id, c.lease_epoch
        attempts = c.recovery_attempts + 1
        wdef = e.registry.workflows.get(c.name)
        limit = wdef.max_recovery_attempts if wdef else 50
        store = e.store

        def write(conn: Connection) -> bool:
            if not store.executors.claim(
                conn,
                wid,
                old_holder=holder,
                old_epoch=epoch,
                me=e.executor_id,
            ):
                return False
            if attempts > limit:
                err = TetherError(
                    f"workflow {wid!r} was recovered {attempts - 1} times without finishing "
                    f"(limit {limit}); inspect its steps, fix the cause, then resume it"
                )
                store.workflows.mark(
                    conn,
                    wid,
                    status=Status.RECOVERY_EXHAUSTED,
                    error_json=serialization.dumps(serialization.error_to_json(err)),
                )
                return False
            return True

        if not store.db.run_write(write, key=wid):
            return False
        e.run_claimed(wid, epoch + 1)
        return True

    def drain(self, grace: float | None = None) -> int:
        """Stop claiming, let steps in flight finish, release leases; returns leases released."""
        e = self.engine
        grace = e.settings.shutdown_grace if grace is None else grace
        deadline = time.monotonic() + grace
        e.draining = True
        try:
            e.store.executors.set_state(e.executor_id, "DRAINING")
        except Exception:  # noqa: BLE001 - keep draining even if the database is flaky
            log.exception("could not mark executor draining")
        for wid in e.running_ids():
            e.signal(wid, DrainingInterrupt)
        while True:
            generation = e.changes.generation
            if e.free_slots() >= e.settings.max_workflows or time.monotonic() >= deadline:
                break
            e.changes.wait(generation, 0.05)
        released = e.store.workflows.release_all(e.executor_id)
        self.stop()  # before STOPPED, so that no late heartbeat overwrites it
        e.store.executors.set_state(e.executor_id, "STOPPED")
        log.info("executor %s drained; released %d workflow(s)", e.executor_id, released)
        return released

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.stopped = True
        for thread in (self._beat, self._thread):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=5)
