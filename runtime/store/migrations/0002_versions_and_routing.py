"""Revision 2: the version registry, per-app routing of new work, executors' own lease timeouts.

The DDL is frozen here as it was at revision 2 (never built from today's ``schema.py``), so
that upgrading an old database is tested against what a fresh one gets.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Float, Integer, MetaData, String, Table, Text
from sqlalchemy import text as sql

from ..migrate import add_column_if_missing, create_table_if_missing

_m = MetaData()

versions = Table(
    "tether_versions",
    _m,
    Column("app_name", String(128), primary_key=True),
    Column("version", String(128), primary_key=True),
    Column("release", String(64)),
    Column("platform_revision", String(255)),
    Column("state", String(16), nullable=False, server_default=sql("'active'")),
    Column("patches", Text, nullable=False, server_default=sql("'[]'")),
    Column("first_seen", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
)

routing = Table(
    "tether_routing",
    _m,
    Column("app_name", String(128), primary_key=True),
    Column("current_version", String(128)),
    Column("ramping_version", String(128)),
    Column("ramping_percent", Float, nullable=False, server_default=sql("0")),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(255)),
)


def upgrade(conn: Connection, dialect: str) -> None:
    create_table_if_missing(conn, versions)
    create_table_if_missing(conn, routing)
    add_column_if_missing(conn, "tether_executors", Column("lease_timeout_ms", Integer))
