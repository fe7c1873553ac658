"""``app.queues``: the app's durable queues: declaring them, enqueueing, and their load.

Declarations live in code (each executor enforces the limits its version declares); the
dispatch that dequeues them starts with ``launch()``. ``app.queue(...)`` is the short form
of ``app.queues.declare(...)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from tether.runtime.dispatch import Dispatch
from tether.runtime.engine import Engine
from tether.runtime.handles import WorkflowHandle
from tether.runtime.queues import Enqueuer, OnDuplicate, Queue, QueueSpec
from tether.runtime.registry import Registry
from tether.runtime.store import Store
from tether.runtime.store.queue_stats import queue_stats
from tether.runtime.waiting import StoreWaiter


@dataclasses.dataclass(frozen=True, slots=True)
class QueueStats:
    """One queue and version: open work now, and finished work over the last window."""

    queue: str
    version: str
    waiting: int  # ENQUEUED
    running: int  # PENDING, dequeued
    oldest_wait_s: float | None  # the longest an ENQUEUED workflow has waited so far
    finished: dict[str, int]  # by terminal status, within the window
    throughput_per_s: float
    start_latency_ms: dict[str, float]  # p50, p95, p99 of enqueue -> start
    run_time_ms: dict[str, float]  # p50, p95, p99 of start -> completion

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Queues:
    """Declare queues, enqueue into them, and read their load across all executors."""

    def __init__(
        self,
        dispatch: Dispatch,
        *,
        store: Callable[[], Store],
        registry: Registry,
        engine: Callable[[], Engine | None],
    ) -> None:
        self._dispatch = dispatch
        self._store = store
        self._registry = registry
        self._engine = engine

    def declare(
        self,
        name: str,
        *,
        concurrency: int | None = None,
        worker_concurrency: int | None = None,
        rate_limit: tuple[int, float] | None = None,
        partition_concurrency: int | None = None,
        on_duplicate: OnDuplicate = "reject",
    ) -> Queue:
        """Declare a durable queue: global and per-executor concurrency, ``rate_limit=(n,
        seconds)``, per-partition concurrency. Launched executors dequeue from it."""
        spec = QueueSpec(
            name, concurrency, worker_concurrency, rate_limit, partition_concurrency, on_duplicate
        )
        return Queue(self._dispatch.add_queue(spec), self._enqueuer)

    def stats(self, window: float = 60.0) -> list[QueueStats]:
        """Per queue and version: waiting, running, oldest wait, and over the last ``window``
        seconds finished counts, throughput and start-latency percentiles."""
        store = self._store()
        return [QueueStats(**row) for row in queue_stats(store.db, store.app_name, window)]

    def _enqueuer(self) -> Enqueuer:
        if self._dispatch.enqueuer is None:
            registry = self._registry

            def resolve(fn: Any) -> str:
                return fn if isinstance(fn, str) else registry.workflow_def(fn).name

            def handle(wid: str) -> WorkflowHandle:
                engine = self._engine()
                return WorkflowHandle(
                    engine.waiter if engine else StoreWaiter(self._store(), 0.1), wid
                )

            self._dispatch.enqueuer = Enqueuer(
                self._store(), resolve=resolve, handle=handle, wake=self._dispatch.wake
            )
        return self._dispatch.enqueuer
