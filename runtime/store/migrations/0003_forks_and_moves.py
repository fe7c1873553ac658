"""Revision 3: fork origins on workflows and the log of workflow moves between versions.

The DDL is frozen here as it was at revision 3 (see revision 2).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, MetaData, String, Table, Text

from ..migrate import add_column_if_missing, create_table_if_missing

_m = MetaData()

workflow_moves = Table(
    "tether_workflow_moves",
    _m,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("app_name", String(128), nullable=False),
    Column("workflow_id", String(255), nullable=False),
    Column("from_version", String(128), nullable=False),
    Column("to_version", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("moved_by", String(255), nullable=False),
    Column("moved_at", BigInteger, nullable=False),
    Column("detail", Text),
    Index("ix_tether_moves_workflow", "app_name", "workflow_id", "id"),
)


def upgrade(conn: Connection, dialect: str) -> None:
    add_column_if_missing(conn, "tether_workflows", Column("forked_from", String(255)))
    add_column_if_missing(conn, "tether_workflows", Column("forked_from_position", Integer))
    create_table_if_missing(conn, workflow_moves)
