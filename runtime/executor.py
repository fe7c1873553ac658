"""The executor loop: heartbeat, cancellation, recovery by claiming, graceful drain.

An executor claims PENDING workflows of versions it can run whose holder is released,
stopped or dead (heartbeat older than the lease timeout). Claims are atomic and bump the
fencing epoch; each round takes a bounded share so that a fleet starting together splits
the work instead of stampeding. Each round also wakes suspended workflows whose deadline has
passed (see ``store.waits``); a timer runs a round at the earliest deadline known here.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from . import serialization, timeouts
from .clock import now_ms
from .errors import CancelledInterrupt, DrainingInterrupt, TetherError
from .leases import claim_share, is_crash_takeover, strays
from .records import Status

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger("tether.executor")

DUE_REFRESH = 1.0  # seconds between reads of the earliest deadline of any suspended wait


class Executor:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._beat: threading.Thread | None = None
        self.stopped = False
        self._round_due = False  # set with _wake: run a round now (else only re-time)
        self._next_due: int | None = None  # earliest deadline of a suspended wait (epoch ms)
        self._cancel_cursor = 0
        self._due_checked = 0.0  # when next_due was last read (monotonic)
        if engine.store.db.is_sqlite:  # Postgres: the waking transaction's NOTIFY says it
            engine.recorder.wake_hooks.append(self.wake)
            engine.store.waits.woken_hooks.append(self.wake)
        engine.recorder.due_hooks.append(self.note_due)
        engine.recorder.woken_hooks.append(self.claim_woken)
        self._woken: set[str] = set()
        self._woken_lock = threading.Lock()
        # "RUNNING", or "DISCONNECTED" while the database has been unreachable longer than
        # the lease: no claims then (see ``_beat_loop``).
        self.health = "RUNNING"
        self._failing_since: float | None = None
        self._suspects: dict[str, int] = {}
        self._next_audit = 0.0
        engine.lease_clock.beat = self.heartbeat
        engine.overflow_hooks.append(self.wake)
        engine.finish_hooks.append(self._slot_freed)

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
        self._round_due = True
        self._wake.set()

    def claim_woken(self, workflow_id: str) -> None:
        """A suspended workflow was woken elsewhere: try to claim it in the next round, by
        id, before a general recovery round."""
        with self._woken_lock:
            self._woken.add(workflow_id)
        self.wake()

    def _claim_woken(self) -> int:
        """Claim the woken workflows noted since the last round, in one statement, as many
        as there are free slots; the rest are left for a recovery round (here or a peer's)."""
        with self._woken_lock:
            ids, self._woken = sorted(self._woken), set()
        e = self.engine
        ids = [wid for wid in ids if not e.is_local(wid)][: max(0, e.free_slots())]
        if not ids or e.draining or self.health != "RUNNING":
            return 0
        me, runnable, waits = e.executor_id, e.runnable(), e.store.waits
        rows = e.store.db.run_write(partial(waits.take, workflow_ids=ids, me=me, runnable=runnable))
        for row in rows:
            e.run_woken(row.workflow_id, row.name, row.inputs, row.lease_epoch, row.trace_context)
        return len(rows)

    def note_due(self, at_ms: int) -> None:
        """A wait suspended here ends at ``at_ms``: run a round then."""
        if self._next_due is None or at_ms < self._next_due:
            self._next_due = at_ms
            self._wake.set()

    def _slot_freed(self, _wid: str) -> None:
        if self.engine.overflowed:
            self.wake()  # starts left unheld wait in the database: claim them now

    def _beat_loop(self) -> None:
        interval = self.engine.settings.heartbeat_interval
        while not self._stop.wait(interval):
            try:
                self.heartbeat()
            except Exception as exc:  # noqa: BLE001 - keep beating through database blips
                self._beat_failed(exc)
            else:
                self._beat_ok()

    def _beat_failed(self, exc: Exception) -> None:
        """Past the lease without a heartbeat this executor stops claiming and says so.

        It keeps the workflows it holds: their runs stop at their next step (the lease
        self-check cannot revalidate), and whoever reaches the database first continues
        them, this executor when its heartbeat returns, or a peer once the lease expired.
        """
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
            log.warning("executor heartbeat failed; retrying: %s", exc)
        deadline = self.engine.settings.lease_timeout
        if self.health == "RUNNING" and now - self._failing_since >= deadline:
            self.health = "DISCONNECTED"
            self._say_disconnected()
            log.error(
                "executor %s: database unreachable for %.0fs; it stops claiming work, and "
                "its runs stop at their next step until it can renew its lease (%s)",
                self.engine.executor_id,
                now - self._failing_since,
                exc,
            )

    def _say_disconnected(self) -> None:
        """Show DISCONNECTED in ``tether executors`` when any write still gets through (a
        heartbeat path that fails while others work); when none does, the heartbeat's age
        says it, and its lease lapses as a dead executor's would."""
        try:
            self.engine.store.executors.note_disconnected(self.engine.executor_id)
        except Exception:  # noqa: BLE001 - the database is away: nothing more to say
            pass

    def _beat_ok(self) -> None:
        if self.health != "RUNNING":
            log.warning(
                "executor %s: database reachable again; claiming resumes", self.engine.executor_id
            )
        self.health = "RUNNING"
        self._failing_since = None

    def _run(self) -> None:
        s = self.engine.settings
        # Jitter the first round so a fleet starting together does not query in lockstep.
        next_recovery = time.monotonic() + random.uniform(0, s.recovery_interval)
        while not self._stop.is_set():
            now = time.monotonic()
            due = (
                not self.engine.draining
                and self._next_due is not None
                and self._next_due <= now_ms()
            )
            try:
                if now >= next_recovery or self._round_due or due:
                    self._round_due = False
                    self._wake.clear()
                    claimed = self._claim_woken()  # first: a message waits for these
                    timeouts.sweep(self.engine.store)  # cancels; the holder stops below
                    self.poll_cancellations()
                    self.audit()
                    if not self.engine.draining and (due or now >= next_recovery):
                        self.wake_due(due)
                    claimed += self._claim_woken()  # woken by the deadlines just passed
                    if not self.engine.draining and (claimed == 0 or now >= next_recovery):
                        claimed += self.recover()
                    # A round takes a bounded share; after a claim, look again sooner so a
                    # dead peer's backlog drains in a few rounds rather than a few seconds.
                    interval = s.recovery_interval / 4 if claimed else s.recovery_interval
                    next_recovery = now + interval
            except Exception:  # noqa: BLE001 - keep the loop alive through database blips
                log.exception("executor loop round failed; retrying")
            self._wake.clear()
            wait = next_recovery - time.monotonic()
            if self._next_due is not None and not self.engine.draining:
                wait = min(wait, (self._next_due - now_ms()) / 1000)
            if not self._round_due:
                self._wake.wait(max(0.0, wait))

    def wake_due(self, due: bool = True) -> int:
        """Wake suspended workflows whose deadline passed (when one is ``due`` by the timer);
        then note the next deadline, wherever it was suspended."""
        e = self.engine
        runnable = e.runnable()
        waits = e.store.waits
        woken: list[str] = []
        if due:
            woken = e.store.db.run_write(lambda conn: waits.wake_due(conn, runnable))
        now = time.monotonic()
        if due or now >= self._due_checked + DUE_REFRESH:
            # Deadlines suspended here are noted at once (note_due); a peer's matter only
            # if the peer dies, so looking for them now and then is enough.
            self._due_checked = now
            self._next_due = waits.next_due(runnable)
        if any(woken):  # queued ones went back to their queue
            for hook in e.recorder.wake_hooks:
                if hook != self.wake:
                    hook()
        return len(woken)

    def heartbeat(self) -> None:
        e = self.engine
        state = "DRAINING" if e.draining else "RUNNING"
        started = time.monotonic()
        if not e.store.executors.heartbeat(e.executor_id, state=state, runnable=e.runnable()):
            self._register(state)  # the row was removed: write it again
        e.lease_clock.succeeded(started)

    def audit(self, *, force: bool = False) -> list[str]:
        """Re-run workflows this executor holds in the database but no longer runs.

        A run whose end was not durable (the database was away past the retry deadline),
        or a claim whose commit was not known, leaves a row held by a live executor that
        no peer would ever take. One indexed read every half lease finds them; a row
        found twice at the same epoch is re-taken (epoch + 1, so a forgotten run can no
        longer write) and run again from its checkpoints. Returns the ids re-run.
        It also wakes workflows suspended on a child that ended while their wake was
        lost (``WaitStore.wake_stranded``).
        """
        e = self.engine
        now = time.monotonic()
        if (not force and now < self._next_audit) or e.draining or self.health != "RUNNING":
            return []
        self._next_audit = now + e.settings.lease_timeout / 2
        e.store.waits.wake_stranded()
        rows = {r.workflow_id: r for r in e.store.executors.held(e.executor_id)}
        with e._lock:  # fenced out here: held by its new holder, maybe one with our id
            e.fenced_out &= set(rows)
            mine = {wid: r.lease_epoch for wid, r in rows.items() if wid not in e.fenced_out}
        act, self._suspects = strays(mine, e.local_ids(), self._suspects)
        # Its own stray is no crash takeover: this process is alive and vouches for it.
        rerun = [
            wid for wid in act if not e.is_local(wid) and self._claim(rows[wid], crashed=False)
        ]
        if rerun:
            log.warning(
                "executor %s held %d workflow(s) it no longer ran; running them again: %s",
                e.executor_id,
                len(rerun),
                ", ".join(rerun[:10]),
            )
        return rerun

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

    def poll_cancellations(self, batch: int = 500) -> None:
        """Signal running workflows cancelled elsewhere; at most ``batch`` ids a round (a
        busy executor covers its running workflows over a few rounds)."""
        e = self.engine
        ids = sorted(e.running_ids())
        if not ids:
            return
        start = self._cancel_cursor % len(ids)
        window = (ids[start:] + ids[:start])[:batch]
        self._cancel_cursor = start + len(window)
        for wid, status in e.store.workflows.statuses(window).items():
            if status == Status.CANCELLED:
                e.signal(wid, CancelledInterrupt)

    def recover(self, *, include_own: bool = False) -> int:
        """Claim a bounded share of workflows whose holder is gone; returns how many."""
        return len(self.claim_round(include_own=include_own))

    def claim_round(self, *, include_own: bool = False) -> list[str]:
        """One recovery round: the ids of the workflows it claimed (and now runs)."""
        e = self.engine
        free = e.free_slots()
        if free <= 0 or e.draining or self.health != "RUNNING":
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

    def _claim(self, c: Any, *, crashed: bool | None = None) -> bool:
        """Take one candidate row (from ``find_claimable``) and run it; ``crashed`` says
        whether it counts as a recovery attempt (by default, as its holder's state says)."""
        e = self.engine
        wid, holder, epoch = c.workflow_id, c.executor_id, c.lease_epoch
        if crashed is None:
            crashed = is_crash_takeover(
                holder=holder,
                holder_known=c.holder_row is not None,
                holder_state=c.holder_state,
                own=holder == e.executor_id,
            )
        attempts = c.recovery_attempts + (1 if crashed else 0)
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
                crashed=crashed,
            ):
                return False
            if crashed and attempts > limit:
                err = TetherError(
                    f"workflow {wid!r} was taken over {attempts - 1} times after its executor "
                    f"crashed (limit {limit}, max_recovery_attempts); a workflow that crashes "
                    "its process every time it runs does so: inspect its steps, fix the "
                    "cause, then resume it"
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
        e.run_claimed(wid, epoch + 1, crashed=crashed)
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
        hooks = self.engine.store.waits.woken_hooks
        if self.wake in hooks:
            hooks.remove(self.wake)
        self._stop.set()
        self._wake.set()
        self.stopped = True
        for thread in (self._beat, self._thread):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=5)
