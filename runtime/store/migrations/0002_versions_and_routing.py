"""Revision 2: the version registry, per-app routing of new work, executors' own lease timeouts."""

from __future__ import annotations

from sqlalchemy import Connection

from ..migrate import add_column_if_missing, create_table_if_missing
from ..schema import executors, routing, versions


def upgrade(conn: Connection, dialect: str) -> None:
    create_table_if_missing(conn, versions)
    create_table_if_missing(conn, routing)
    add_column_if_missing(conn, executors, "lease_timeout_ms")
