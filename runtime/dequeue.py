"""The dequeuer of one executor: claims queued workflows its version can run, starts them.

Woken by local enqueues and completions, by Postgres NOTIFY (see ``wakeups``), and
otherwise every ``poll_interval`` (the fallback that also works through a transaction-mode
pooler, and the only mechanism on SQLite). Limits are enforced in the claim itself (see
``store.queues``); this loop decides when to claim and how much.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from . import observe, serialization
from .clock import now_ms
from .engine import decode_inputs
from .queue_limits import LimitCache
from .queues import QueueSpec
from .records import OperationRecord, Status
from .run import Run
from .store import Fence
from .store.queues import Claimed
from .store.retry import is_transient

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger("tether.queues")

COALESCE = 0.02  # seconds a claim for a few slots may wait for more to free up


class QueueRunner:
    """Dequeues for one executor (a thread of its own)."""

    def __init__(
        self,
        engine: Engine,
        specs: Mapping[str, QueueSpec],
        *,
        live_versions: Callable[[], frozenset[str]],
        max_batch: int = 256,
        limits: LimitCache | None = None,
    ) -> None:
        self.engine = engine
        self.specs = specs
        self.store = engine.store.queues
        self.live_versions = live_versions
        self.max_batch = max_batch
        self.limits = limits  # limits changed at run time, over the declared ones
        self._event = threading.Event()
        self._stop = threading.Event()
        self._mine: set[str] = set()
        self._lock = threading.Lock()
        self._turn = 0
        self._backlog: set[str] = set()  # queues whose last claim was cut short by capacity
        self._deferred: dict[str, float] = {}  # queue -> when a small claim was first put off
        self._idle: set[str] = set()  # queues whose last claim found nothing: peek first
        # With a backlog, wait for this many free slots: fewer, larger claims.
        self.min_batch = max(1, min(32, engine.settings.max_workflows // 4))
        self._thread: threading.Thread | None = None
        engine.finish_hooks.append(self._finished)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tether-queues", daemon=True)
        self._thread.start()

    def wake(self, queue: str | None = None) -> None:
        if queue is None or queue in self.specs:
            self._event.set()

    def stop(self) -> None:
        self._stop.set()
        self._event.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def _finished(self, workflow_id: str) -> None:
        with self._lock:
            if workflow_id not in self._mine:
                return
            self._mine.discard(workflow_id)
        self._event.set()

    def _run(self) -> None:
        poll = self.engine.settings.poll_interval
        backoff = poll
        wait = poll
        while not self._stop.is_set():
            self._event.wait(wait)
            self._event.clear()
            if self._stop.is_set() or self.engine.draining:
                wait = poll
                continue
            try:
                wait = min(poll, self.round())
                backoff = poll
            except Exception as exc:  # noqa: BLE001 - keep dequeuing through database blips
                if is_transient(exc):
                    log.warning("dequeue round failed on a broken connection; retrying: %s", exc)
                else:
                    log.exception("dequeue round failed; retrying")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                wait = poll

    def round(self) -> float:
        """Claim and start what each queue allows now; returns seconds until the next round.

        While a queue has a backlog, claims wait (up to ``COALESCE`` seconds) for at least
        ``min_batch`` free slots: one claim per batch of completions instead of one each.
        """
        e = self.engine
        names = list(self.specs)
        if not names:
            return float("inf")
        self._turn = (self._turn + 1) % len(names)
        wait = float("inf")
        now = time.monotonic()
        for name in names[self._turn :] + names[: self._turn]:
            free = min(e.free_slots(), self.max_batch)
            if free <= 0 or e.draining or self._stop.is_set():
                break
            deferred = self._deferred.get(name)
            if name in self._backlog and free < self.min_batch:
                if deferred is None:
                    self._deferred[name] = deferred = now
                if now - deferred < COALESCE:
                    wait = min(wait, deferred + COALESCE - now)
                    continue  # running work frees more slots soon; claim them together
            self._deferred.pop(name, None)
            if name in self._idle and not self.store.has_waiting(name, e.runnable()):
                continue  # a read, so idle executors never queue up for a write lock
            spec = self.specs[name]
            if self.limits is not None:
                spec = self.limits.effective(spec)
            claimed = self.store.claim(
                name,
                me=e.executor_id,
                runnable=e.runnable(),
                live=self.live_versions() if spec.needs_live_versions else None,
                capacity=free,
                concurrency=spec.concurrency,
                worker_concurrency=spec.worker_concurrency,
                rate_limit=spec.rate_limit,
                partition_concurrency=spec.partition_concurrency,
            )
            for c in claimed:
                self._start(c, name)
            if claimed:
                self._idle.discard(name)
            else:
                self._idle.add(name)
            if len(claimed) == free:
                self._backlog.add(name)
                if e.free_slots() >= self.min_batch:
                    wait = 0.0  # room for more right away
            else:
                self._backlog.discard(name)
        return wait

    def _start(self, c: Claimed, queue: str) -> None:
        e = self.engine
        wdef = e.registry.workflows.get(c.name)
        if wdef is None:
            e.run_claimed(c.workflow_id, c.epoch, observe.DEQUEUE)  # a clear error: unknown name
            return
        try:
            args, kwargs = decode_inputs(serialization.loads(c.inputs))
        except Exception as exc:  # noqa: BLE001 - inputs written by hand or by a bad client
            self._fail(c, exc)
            return
        with self._lock:
            self._mine.add(c.workflow_id)
        fence = Fence(c.workflow_id, e.executor_id, c.epoch)
        history: list[OperationRecord] | None = None if c.has_history else []
        run = Run(wdef, c.workflow_id, args, kwargs, fence, history)
        run.reason, run.trace_context = observe.DEQUEUE, c.trace_context
        observer = e.observer
        if observer is not None and c.due_at is not None:
            waited = max(0.0, (now_ms() - c.due_at) / 1000)
            observer.dequeued(queue, c.name, waited)
        e.submit(run)

    def _fail(self, c: Claimed, exc: Exception) -> None:
        """End a claimed workflow in ERROR (fenced), rather than hold it forever."""
        e = self.engine
        log.error("queued workflow %s cannot start: %s", c.workflow_id, exc)
        error = json.dumps(serialization.error_to_json(exc))
        e.recorder.finish(
            Fence(c.workflow_id, e.executor_id, c.epoch), Status.ERROR, error_json=error
        )
