"""Revision 2: the version registry and per-app routing of new work."""

from __future__ import annotations

from sqlalchemy import Connection

from ..migrate import create_table_if_missing
from ..schema import routing, versions


def upgrade(conn: Connection, dialect: str) -> None:
    create_table_if_missing(conn, versions)
    create_table_if_missing(conn, routing)
