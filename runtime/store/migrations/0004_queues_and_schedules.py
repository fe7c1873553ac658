"""Revision 4: queue order and queue indexes on workflows, and the cron schedules table.

The DDL is frozen here as it was at revision 4 (see revision 2).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, MetaData, String, Table
from sqlalchemy import text as sql

from ..migrate import add_column_if_missing, create_table_if_missing

_m = MetaData()

# Only the columns the new indexes name: enough for CREATE INDEX on the existing table.
_workflows = Table(
    "tether_workflows",
    _m,
    Column("app_name", String(128)),
    Column("queue_name", String(128)),
    Column("priority", Integer),
    Column("queue_seq", BigInteger),
    Column("version", String(128)),
    Column("created_at", BigInteger),
    Column("started_at", BigInteger),
    Column("completed_at", BigInteger),
    Column("status", String(32)),
)


def _partial(name: str, where: str, *columns: str) -> Index:
    return Index(
        name,
        *(_workflows.c[c] for c in columns),
        postgresql_where=sql(where),
        sqlite_where=sql(where),
    )


_INDEXES = (
    _partial(
        "ix_tether_wf_dequeue",
        "status = 'ENQUEUED'",
        "queue_name",
        "app_name",
        "priority",
        "queue_seq",
    ),
    _partial(
        "ix_tether_wf_waiting",
        "status = 'ENQUEUED'",
        "queue_name",
        "app_name",
        "version",
        "created_at",
    ),
    _partial(
        "ix_tether_wf_q_started",
        "queue_name IS NOT NULL",
        "queue_name",
        "app_name",
        "started_at",
    ),
    _partial("ix_tether_wf_q_done", "queue_name IS NOT NULL", "app_name", "completed_at"),
)

schedules = Table(
    "tether_schedules",
    _m,
    Column("app_name", String(128), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("workflow_name", String(255), nullable=False),
    Column("cron", String(255), nullable=False),
    Column("timezone", String(64), nullable=False, server_default=sql("'UTC'")),
    Column("state", String(16), nullable=False, server_default=sql("'ACTIVE'")),
    Column("missed", String(16), nullable=False, server_default=sql("'skip'")),
    Column("queue_name", String(128)),
    Column("source", String(16), nullable=False, server_default=sql("'runtime'")),
    Column("last_tick", BigInteger),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)


def upgrade(conn: Connection, dialect: str) -> None:
    add_column_if_missing(conn, "tether_workflows", Column("queue_seq", BigInteger))
    for index in _INDEXES:
        index.create(conn, checkfirst=True)
    create_table_if_missing(conn, schedules)
