"""Health and open work per version, read from the database: what rollout gates and the
drain of old revisions decide on.

Finished workflows are read through the completion-time index over a window that starts
when the rollout step began; open work through the status/version index. ``exclude`` is a name
prefix of workflows that are not the app's own work (tether's rollout controller and
autoscaler), so they neither count as failures nor keep a revision alive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from ..records import Status
from .database import Database
from .queue_stats import percentiles
from .schema import operations as O
from .schema import workflows as W

FAILED = (Status.ERROR, Status.RECOVERY_EXHAUSTED)
OPEN_WORK = tuple(sorted(Status.OPEN))  # suspended agents are open work too


@dataclass(frozen=True)
class VersionHealth:
    """What a version did since ``since_ms``."""

    version: str
    finished: int  # workflows that reached a terminal status (success, error, cancelled, ...)
    failed: int  # of which ERROR or RECOVERY_EXHAUSTED
    parked: int  # workflows parked by non-determinism (since the rollout began)
    step_p95_ms: float | None  # p95 of step durations run by this version
    step_samples: int

    @property
    def failure_rate(self) -> float:
        return self.failed / self.finished if self.finished else 0.0


def version_health(
    db: Database,
    app: str,
    version: str,
    since_ms: int,
    *,
    parked_since_ms: int | None = None,
    exclude: str | None = None,
    samples: int = 10_000,
) -> VersionHealth:
    own = [W.c.app_name == app, W.c.version == version]
    if exclude:
        own.append(_not_prefixed(exclude))

    def read(conn: Connection) -> tuple[dict[str, int], int, list[int]]:
        # Through ix_tether_wf_version_done: the version's rows finished since the step began
        # (completed_at is set on terminal and parked rows only; status is filtered here).
        by_status = conn.execute(
            select(W.c.status, func.count())
            .where(*own, W.c.completed_at >= since_ms)
            .group_by(W.c.status)
        ).all()
        counts = {str(st): int(n) for st, n in by_status if st in Status.TERMINAL}
        parked = conn.execute(
            select(func.count()).where(
                *own,
                W.c.status == Status.PARKED,
                W.c.updated_at >= (since_ms if parked_since_ms is None else parked_since_ms),
            )
        ).scalar_one()
        # Step durations of those workflows, each found by its primary key.
        finished = (
            select(W.c.workflow_id)
            .where(*own, W.c.completed_at >= since_ms)
            .order_by(W.c.completed_at.desc())
            .limit(samples)
            .subquery()
        )
        durations = [
            int(c - s)
            for s, c in conn.execute(
                select(O.c.started_at, O.c.completed_at)
                .join(finished, O.c.workflow_id == finished.c.workflow_id)
                .where(
                    O.c.app_name == app,
                    O.c.version == version,
                    O.c.kind == "step",
                    O.c.started_at.is_not(None),
                )
            )
        ]
        return counts, int(parked), durations

    counts, parked, durations = db.reading(read, what="read a version's health")
    p95 = percentiles(durations, {"p95": 0.95}).get("p95")
    return VersionHealth(
        version=version,
        finished=int(sum(counts.values())),
        failed=int(sum(counts.get(s, 0) for s in FAILED)),
        parked=int(parked),
        step_p95_ms=p95,
        step_samples=len(durations),
    )


def open_work(db: Database, app: str, *, exclude: str | None = None) -> dict[str, int]:
    """Per version: workflows still needing its code (enqueued, pending, parked)."""
    where = [W.c.app_name == app, W.c.status.in_(OPEN_WORK)]
    if exclude:
        where.append(_not_prefixed(exclude))
    # Grouped by status first, so the (status, version, app_name) index serves it.
    stmt = (
        select(W.c.status, W.c.version, func.count())
        .where(*where)
        .group_by(W.c.status, W.c.version)
    )
    out: dict[str, int] = {}
    for _, v, n in db.reading(lambda c: c.execute(stmt).all()):
        out[str(v)] = out.get(str(v), 0) + int(n)
    return out


def open_patch_markers(
    db: Database, app: str, version: str, *, exclude: str | None = None, limit: int = 10_000
) -> dict[str, list[str]]:
    """Open workflows of ``version`` and the patch markers their histories carry."""
    where = [W.c.app_name == app, W.c.version == version, W.c.status.in_(OPEN_WORK)]
    if exclude:
        where.append(_not_prefixed(exclude))

    def read(conn: Connection) -> dict[str, list[str]]:
        ids = [r[0] for r in conn.execute(select(W.c.workflow_id).where(*where).limit(limit))]
        out: dict[str, list[str]] = {wid: [] for wid in ids}
        for i in range(0, len(ids), 500):
            for wid, name in conn.execute(
                select(O.c.workflow_id, O.c.name)
                .where(
                    O.c.app_name == app,
                    O.c.workflow_id.in_(ids[i : i + 500]),
                    O.c.kind == "patch",
                )
                .order_by(O.c.workflow_id, O.c.position)
            ):
                out[wid].append(name)
        return out

    return db.reading(read, what="read open patch markers")


def _not_prefixed(prefix: str) -> Any:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return W.c.name.not_like(escaped + "%", escape="\\")
