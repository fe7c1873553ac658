"""Revision 9: what each version's code declares, on its registry row: the workflow names
(so scheduled ticks and enqueues by name go only to a version that can run them) and the
hash of its workflow sources (so a migration can tell the loaded code is that version's).

The DDL is frozen here as it was at revision 9.
"""

from __future__ import annotations

from sqlalchemy import Column, Connection, MetaData, String, Table, Text

from ..migrate import add_column_if_missing

_versions = Table(
    "tether_versions",
    MetaData(),
    Column("workflows", Text),  # JSON list; NULL: launched before revision 9 (unknown)
    Column("source_hash", String(64)),
)


def upgrade(conn: Connection, dialect: str) -> None:
    add_column_if_missing(conn, _versions, "workflows")
    add_column_if_missing(conn, _versions, "source_hash")
