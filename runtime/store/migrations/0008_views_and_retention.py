"""Revision 8: read-only views for dashboards (tether_version_stats, tether_workflow_stats,
tether_queue_stats, tether_rollout_status), and the two indexes retention reads by.

The views' SQL is frozen here as it was at revision 8; ``views.py`` holds the current
definitions that a fresh database gets.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Index, MetaData, String, Table
from sqlalchemy import text as sql

_m = MetaData()

# Only the columns the new indexes name: enough for CREATE INDEX on the existing table.
_workflows = Table(
    "tether_workflows",
    _m,
    Column("app_name", String(128)),
    Column("completed_at", BigInteger),
    Column("forked_from", String(255)),
)

_INDEXES = (
    Index(
        "ix_tether_wf_finished",
        _workflows.c.app_name,
        _workflows.c.completed_at,
        postgresql_where=sql("completed_at IS NOT NULL"),
        sqlite_where=sql("completed_at IS NOT NULL"),
    ),
    Index(
        "ix_tether_wf_forked_from",
        _workflows.c.forked_from,
        _workflows.c.app_name,
        postgresql_where=sql("forked_from IS NOT NULL"),
        sqlite_where=sql("forked_from IS NOT NULL"),
    ),
)


def now_ms(dialect: str) -> str:
    """The current time in epoch milliseconds, as SQL of ``dialect``."""
    if dialect == "sqlite":
        return "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
    return "CAST(EXTRACT(EPOCH FROM CURRENT_TIMESTAMP) * 1000 AS BIGINT)"


def _count(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def definitions(dialect: str) -> dict[str, str]:
    """Each view's SELECT, as of this code."""
    now = now_ms(dialect)
    statuses = {
        "enqueued": "status = 'ENQUEUED'",
        "pending": "status = 'PENDING'",
        "parked": "status = 'PARKED'",
        "succeeded": "status = 'SUCCESS'",
        "failed": "status = 'ERROR'",
        "cancelled": "status = 'CANCELLED'",
        "exhausted": "status = 'RECOVERY_EXHAUSTED'",
    }
    counts = ",\n    ".join(f"{_count(c)} AS {name}" for name, c in statuses.items())
    versions = f"""
SELECT
    v.app_name,
    v.version,
    v.release,
    v.platform_revision,
    CASE
        WHEN v.state = 'retired' THEN 'retired'
        WHEN v.version = r.current_version OR v.version = r.ramping_version THEN 'active'
        WHEN COALESCE(w.enqueued + w.pending + w.parked, 0) > 0 THEN 'draining'
        ELSE 'drained'
    END AS state,
    CASE WHEN v.version = r.current_version THEN 1 ELSE 0 END AS is_current,
    CASE
        WHEN v.version = r.current_version AND r.ramping_version IS NOT NULL
            THEN 100.0 - r.ramping_percent
        WHEN v.version = r.current_version THEN 100.0
        WHEN v.version = r.ramping_version THEN r.ramping_percent
        ELSE 0.0
    END AS traffic_percent,
    COALESCE(w.enqueued + w.pending + w.parked, 0) AS open_total,
    COALESCE(w.enqueued, 0) AS enqueued,
    COALESCE(w.pending, 0) AS pending,
    COALESCE(w.parked, 0) AS parked,
    COALESCE(w.succeeded, 0) AS succeeded,
    COALESCE(w.failed, 0) AS failed,
    COALESCE(w.cancelled, 0) AS cancelled,
    COALESCE(w.exhausted, 0) AS exhausted,
    COALESCE(e.live_executors, 0) AS live_executors,
    v.first_seen,
    v.last_seen
FROM tether_versions v
LEFT JOIN tether_routing r ON r.app_name = v.app_name
LEFT JOIN (
    SELECT app_name, version,
    {counts}
    FROM tether_workflows
    GROUP BY app_name, version
) w ON w.app_name = v.app_name AND w.version = v.version
LEFT JOIN (
    SELECT app_name, version, COUNT(*) AS live_executors
    FROM tether_executors
    WHERE state <> 'STOPPED' AND heartbeat_at >= {now} - COALESCE(lease_timeout_ms, 10000)
    GROUP BY app_name, version
) e ON e.app_name = v.app_name AND e.version = v.version
"""
    workflows = """
SELECT
    app_name,
    name AS workflow_name,
    version,
    status,
    (COALESCE(completed_at, created_at) / 60000) * 60000 AS minute,
    COUNT(*) AS workflows,
    AVG(CASE WHEN completed_at IS NOT NULL AND started_at IS NOT NULL
        THEN completed_at - started_at END) AS avg_run_ms,
    MAX(CASE WHEN completed_at IS NOT NULL AND started_at IS NOT NULL
        THEN completed_at - started_at END) AS max_run_ms,
    SUM(recovery_attempts) AS recoveries
FROM tether_workflows
GROUP BY app_name, name, version, status, (COALESCE(completed_at, created_at) / 60000) * 60000
"""
    window = f"{now} - 300000"
    queues = f"""
SELECT
    app_name,
    queue_name,
    version,
    {_count("status = 'ENQUEUED'")} AS waiting,
    {_count("status = 'PENDING'")} AS running,
    COALESCE({now} - MIN(CASE WHEN status = 'ENQUEUED' THEN created_at END), 0) AS oldest_wait_ms,
    {_count(f"completed_at >= {window}")} AS finished_5m,
    {_count(f"completed_at >= {window} AND status <> 'SUCCESS'")} AS failed_5m,
    {_count(f"started_at >= {window}")} AS started_5m,
    AVG(CASE WHEN started_at >= {window} THEN started_at - created_at END)
        AS avg_start_latency_ms_5m
FROM tether_workflows
WHERE queue_name IS NOT NULL
    AND (status IN ('ENQUEUED', 'PENDING') OR completed_at >= {window} OR started_at >= {window})
GROUP BY app_name, queue_name, version
"""
    rollouts = """
SELECT
    r.app_name,
    r.rollout_id,
    r.service,
    r.baseline,
    r.candidate,
    r.state,
    CASE WHEN r.state IN ('running', 'paused') THEN 1 ELSE 0 END AS is_active,
    r.stage,
    r.percent AS candidate_percent,
    r.reason,
    COALESCE(e.decisions, 0) AS decisions,
    e.last_decision_at,
    r.created_at,
    r.updated_at
FROM tether_rollouts r
LEFT JOIN (
    SELECT app_name, rollout_id, COUNT(*) AS decisions, MAX(at) AS last_decision_at
    FROM tether_rollout_events
    GROUP BY app_name, rollout_id
) e ON e.app_name = r.app_name AND e.rollout_id = r.rollout_id
"""
    return {
        "tether_rollout_status": rollouts,
        "tether_version_stats": versions,
        "tether_workflow_stats": workflows,
        "tether_queue_stats": queues,
    }


def upgrade(conn: Connection, dialect: str) -> None:
    for index in _INDEXES:
        index.create(conn, checkfirst=True)
    for name, select in definitions(dialect).items():
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE VIEW {name} AS {select}")
