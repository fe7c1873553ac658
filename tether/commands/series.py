"""Queue load over time: depth, starts and start latency per time bucket, for plots.

``queue_stats`` answers "how loaded is each queue now"; a dashboard also wants "and over the
last quarter hour". Both come from the workflows table alone: a queued workflow waits from
``created_at`` until ``started_at``, so the depth at any instant is the number of queued
workflows created before it and not started yet. ``bucket_series`` is the pure part.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from sqlalchemy import or_, select

from tether.runtime.clock import now_ms
from tether.runtime.store.schema import workflows as W

from ..app import Tether
from .records import Record

_MAX_ROWS = 50_000  # a plot needs a sample, not every row of a busy day


@dataclasses.dataclass(frozen=True)
class QueueSeries(Record):
    """One queue over ``buckets`` equal intervals ending now (oldest first)."""

    queue: str
    bucket_s: float
    depth: list[int]  # waiting at the end of each bucket
    started: list[int]  # dequeued within each bucket
    start_latency_ms: list[float | None]  # median wait of those started within each bucket


def bucket_series(
    queue: str,
    rows: Iterable[tuple[int, int | None, int | None]],
    *,
    since: int,
    until: int,
    buckets: int,
) -> QueueSeries:
    """``rows`` are (created_at, started_at, completed_at) in epoch ms; a workflow leaves the
    queue when it starts, or when it finishes unstarted (cancelled while waiting). Pure."""
    width = max(1, (until - since) // buckets)
    ends = [since + width * (i + 1) for i in range(buckets)]
    depth = [0] * buckets
    started = [0] * buckets
    waits: list[list[int]] = [[] for _ in range(buckets)]
    for created, start, completed in rows:
        left = start if start is not None else completed
        for i, end in enumerate(ends):
            if created <= end and (left is None or left > end):
                depth[i] += 1
        if start is not None and since < start <= ends[-1]:
            i = min(buckets - 1, (start - since - 1) // width)
            started[i] += 1
            waits[i].append(start - created)
    return QueueSeries(
        queue, width / 1000, depth, started, [_median(w) if w else None for w in waits]
    )


def _median(values: list[int]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2


def queue_series(app: Tether, *, window: float = 900.0, buckets: int = 30) -> list[QueueSeries]:
    """Per queue: depth, starts and median start latency over the last ``window`` seconds."""
    until = now_ms()
    since = until - int(window * 1000)
    stmt = (
        select(W.c.queue_name, W.c.created_at, W.c.started_at, W.c.completed_at)
        .where(
            W.c.app_name == app.app_name,
            W.c.queue_name.is_not(None),
            W.c.created_at <= until,
            or_(W.c.started_at.is_(None), W.c.started_at > since),
            # a workflow that never started and is finished (cancelled while waiting) left
            # the queue when it completed
            or_(W.c.started_at.is_not(None), W.c.completed_at.is_(None), W.c.completed_at > since),
        )
        .order_by(W.c.created_at.desc())
        .limit(_MAX_ROWS)
    )
    by_queue: dict[str, list[tuple[int, int | None, int | None]]] = {}
    for name, created, started, completed in app.store.db.reading(lambda c: c.execute(stmt).all()):
        by_queue.setdefault(name, []).append((created, started, completed))
    return [
        bucket_series(q, rows, since=since, until=until, buckets=buckets)
        for q, rows in sorted(by_queue.items())
    ]


__all__ = ["QueueSeries", "bucket_series", "queue_series"]
