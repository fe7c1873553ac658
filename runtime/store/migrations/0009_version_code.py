"""Revision 9: what each version's code declares, on its registry row: the workflow names
(so scheduled ticks and enqueues by name go only to a version that can run them) and the
hash of its workflow sources (so a migration can tell the loaded code is that version's).

The DDL is frozen here as it was at revision 9 (see revision 2).
"""

from __future__ import annotations

from sqlalchemy import Column, Connection, String, Text

from ..migrate import add_column_if_missing


def upgrade(conn: Connection, dialect: str) -> None:
    # JSON list of names; NULL: launched before revision 9 (unknown).
    add_column_if_missing(conn, "tether_versions", Column("workflows", Text))
    add_column_if_missing(conn, "tether_versions", Column("source_hash", String(64)))
