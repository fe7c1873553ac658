"""Load statistics of an app's queues: what the autoscaler and rollout gates read.

Every query is bounded by an index: open rows through the status and waiting indexes,
finished rows through the completion-time index over the window only, so the cost follows
the open work and the window, not the table (which may hold millions of finished rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnClause, Connection, func, literal_column, select, text

from ..clock import now_ms
from ..records import Status
from .database import Database
from .schema import workflows as W

_ENQUEUED: ColumnClause[str] = literal_column(f"'{Status.ENQUEUED}'")
_PENDING: ColumnClause[str] = literal_column(f"'{Status.PENDING}'")
_SUSPENDED: ColumnClause[str] = literal_column(f"'{Status.SUSPENDED}'")
_QUEUED = text("tether_workflows.queue_name IS NOT NULL")  # matches the partial indexes
_Key = tuple[str, str]  # (queue, version)
_Samples = dict[_Key, list[int]]


def queue_stats(
    db: Database,
    app: str,
    window: float,
    *,
    samples: int = 10_000,
    conn: Connection | None = None,
) -> list[dict[str, Any]]:
    """Per queue and version: waiting, running, suspended, oldest wait, and the last
    ``window`` s.

    Every query is bounded by an index: open rows through the status and waiting
    indexes, finished rows through the completion-time index over the window only.
    """
    now = now_ms()
    cutoff = now - int(window * 1000)

    def read(conn: Connection) -> tuple[dict[_Key, dict[str, Any]], _Samples, _Samples]:
        rows: dict[_Key, dict[str, Any]] = {}  # afresh on each attempt

        def row(queue: str, version: str) -> dict[str, Any]:
            return rows.setdefault((queue, version), _empty(queue, version))

        for q, v, n, oldest in conn.execute(
            select(W.c.queue_name, W.c.version, func.count(), func.min(W.c.created_at))
            .where(W.c.status == _ENQUEUED, W.c.app_name == app, _QUEUED)
            .group_by(W.c.queue_name, W.c.version)
        ):
            r = row(q, v)
            r["waiting"] = int(n)
            r["oldest_wait_s"] = max(0.0, (now - int(oldest)) / 1000)
        for q, v, n in conn.execute(
            select(W.c.queue_name, W.c.version, func.count())
            .where(W.c.status == _PENDING, W.c.app_name == app, _QUEUED)
            .group_by(W.c.queue_name, W.c.version)
        ):
            row(q, v)["running"] = int(n)
        for q, v, n in conn.execute(  # in a durable wait: no slot held (see store.waits)
            select(W.c.queue_name, W.c.version, func.count())
            .where(W.c.status == _SUSPENDED, W.c.app_name == app, _QUEUED)
            .group_by(W.c.queue_name, W.c.version)
        ):
            row(q, v)["suspended"] = int(n)
        done = (W.c.app_name == app, W.c.completed_at >= cutoff, _QUEUED)
        for q, v, status, n in conn.execute(
            select(W.c.queue_name, W.c.version, W.c.status, func.count())
            .where(*done)
            .group_by(W.c.queue_name, W.c.version, W.c.status)
        ):
            r = row(q, v)
            r["finished"][status] = int(n)
        waits: _Samples = {}
        runs: _Samples = {}
        for q, v, created, started, completed in conn.execute(
            select(W.c.queue_name, W.c.version, W.c.created_at, W.c.started_at, W.c.completed_at)
            .where(*done, W.c.started_at.is_not(None))
            .order_by(W.c.completed_at.desc())
            .limit(samples)
        ):
            waits.setdefault((q, v), []).append(started - created)
            runs.setdefault((q, v), []).append(completed - started)
        return rows, waits, runs

    rows, waits, runs = db.reading(read, conn=conn, what="read queue statistics")
    for key, r in rows.items():
        r["throughput_per_s"] = sum(r["finished"].values()) / window if window > 0 else 0.0
        r["start_latency_ms"] = percentiles(waits.get(key, []))
        r["run_time_ms"] = percentiles(runs.get(key, []))
    return sorted(rows.values(), key=lambda r: (r["queue"], r["version"]))


def _empty(queue: str, version: str) -> dict[str, Any]:
    return {
        "queue": queue,
        "version": version,
        "waiting": 0,
        "running": 0,
        "suspended": 0,
        "oldest_wait_s": None,
        "finished": {},
        "throughput_per_s": 0.0,
        "start_latency_ms": {},
        "run_time_ms": {},
    }


def percentiles(values: list[int], points: Mapping[str, float] | None = None) -> dict[str, float]:
    """Nearest-rank percentiles (p50, p95, p99 by default) of ``values``; {} when empty."""
    if not values:
        return {}
    ordered = sorted(values)
    points = points or {"p50": 0.50, "p95": 0.95, "p99": 0.99}
    out = {}
    for name, p in points.items():
        rank = max(1, -(-int(p * 1000) * len(ordered) // 1000))  # ceil(p * n)
        out[name] = float(ordered[min(rank, len(ordered)) - 1])
    return out


def queue_depths(db: Database, app: str) -> list[tuple[str, str, str, int]]:
    """(queue, version, state, count) of open queued workflows: ``waiting`` (ENQUEUED) and
    ``running`` (PENDING); a cheap read for a metrics gauge (the status indexes bound it)."""

    def read(conn: Connection) -> list[tuple[str, str, str, int]]:
        out: list[tuple[str, str, str, int]] = []
        for state, status in (("waiting", _ENQUEUED), ("running", _PENDING)):
            for q, v, n in conn.execute(
                select(W.c.queue_name, W.c.version, func.count())
                .where(W.c.status == status, W.c.app_name == app, _QUEUED)
                .group_by(W.c.queue_name, W.c.version)
            ):
                out.append((q, v, state, int(n)))
        return out

    return db.reading(read, what="read queue depths")
