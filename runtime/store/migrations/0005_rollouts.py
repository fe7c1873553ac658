"""Revision 5: rollouts, their decision log, the per-service rollout lock, autoscaler state,
and an index of what each version finished when (rollout gates read it every step).

The DDL is frozen here (its own MetaData), so later changes to ``schema`` never change what
this migration creates.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, MetaData, String, Table, Text
from sqlalchemy import text as sql

_md = MetaData()
_ID = String(255)

_rollouts = Table(
    "tether_rollouts",
    _md,
    Column("app_name", String(128), primary_key=True),
    Column("rollout_id", _ID, primary_key=True),
    Column("service", String(255), nullable=False),
    Column("baseline", String(255)),
    Column("candidate", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("stage", Integer, nullable=False, server_default=sql("0")),
    Column("percent", Integer, nullable=False, server_default=sql("0")),
    Column("reason", Text),
    Column("plan", Text, nullable=False),
    Column("platform", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_tether_rollouts_service", "app_name", "service", "created_at"),
)
_events = Table(
    "tether_rollout_events",
    _md,
    Column("app_name", String(128), primary_key=True),
    Column("rollout_id", _ID, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
    Index("ix_tether_rollout_events_at", "app_name", "rollout_id", "at"),
)
_locks = Table(
    "tether_rollout_locks",
    _md,
    Column("app_name", String(128), primary_key=True),
    Column("service", String(255), primary_key=True),
    Column("rollout_id", _ID, nullable=False),
    Column("acquired_at", BigInteger, nullable=False),
)
_autoscale = Table(
    "tether_autoscale",
    _md,
    Column("app_name", String(128), primary_key=True),
    Column("service", String(255), primary_key=True),
    Column("min_instances", Integer),
    Column("max_instances", Integer),
    Column("low_since", BigInteger),
    Column("last_change_at", BigInteger),
    Column("updated_at", BigInteger, nullable=False),
)


def upgrade(conn: Connection, dialect: str) -> None:
    _md.create_all(conn, checkfirst=True)
    conn.exec_driver_sql(
        "CREATE INDEX IF NOT EXISTS ix_tether_wf_version_done "
        "ON tether_workflows (version, app_name, completed_at)"
    )
