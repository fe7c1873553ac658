"""Revision 7: workflow timeouts, durable streams, send idempotency keys, and queue limits
stored in the database (with the log of their changes).

The DDL is frozen here as it was at revision 7 (see revision 2).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, MetaData, String, Table, Text
from sqlalchemy import text as sql

from ..migrate import add_column_if_missing, create_table_if_missing

_m = MetaData()

_workflows = Table(
    "tether_workflows",
    _m,
    Column("app_name", String(128)),
    Column("deadline_at", BigInteger),
    Column("status", String(32)),
)

_DEADLINE_OPEN = "deadline_at IS NOT NULL AND status IN ('ENQUEUED', 'PENDING')"
_deadline_index = Index(
    "ix_tether_wf_deadline",
    _workflows.c.deadline_at,
    _workflows.c.app_name,
    postgresql_where=sql(_DEADLINE_OPEN),
    sqlite_where=sql(_DEADLINE_OPEN),
)

streams = Table(
    "tether_streams",
    _m,
    Column("app_name", String(128), primary_key=True),
    Column("workflow_id", String(255), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("value", Text),
    Column("position", Integer),
    Column("created_at", BigInteger, nullable=False),
)

message_keys = Table(
    "tether_message_keys",
    _m,
    Column("app_name", String(128), primary_key=True),
    Column("dest_id", String(255), primary_key=True),
    Column("idempotency_key", String(255), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
)

queues = Table(
    "tether_queues",
    _m,
    Column("app_name", String(128), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("declared", Text, nullable=False, server_default=sql("'{}'")),
    Column("overrides", Text, nullable=False, server_default=sql("'{}'")),
    Column("declared_by", String(128)),
    Column("updated_at", BigInteger, nullable=False),
)

queue_changes = Table(
    "tether_queue_changes",
    _m,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("app_name", String(128), nullable=False),
    Column("queue_name", String(128), nullable=False),
    Column("before", Text, nullable=False),
    Column("after", Text, nullable=False),
    Column("changed_by", String(255), nullable=False),
    Column("changed_at", BigInteger, nullable=False),
    Index("ix_tether_queue_changes", "app_name", "queue_name", "id"),
)


def upgrade(conn: Connection, dialect: str) -> None:
    add_column_if_missing(conn, "tether_workflows", Column("timeout_ms", BigInteger))
    add_column_if_missing(conn, "tether_workflows", Column("deadline_at", BigInteger))
    _deadline_index.create(conn, checkfirst=True)
    for table in (streams, message_keys, queues, queue_changes):
        create_table_if_missing(conn, table)
