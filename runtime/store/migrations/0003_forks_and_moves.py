"""Revision 3: fork origins on workflows and the log of workflow moves between versions."""

from __future__ import annotations

from sqlalchemy import Connection

from ..migrate import add_column_if_missing, create_table_if_missing
from ..schema import workflow_moves, workflows


def upgrade(conn: Connection, dialect: str) -> None:
    add_column_if_missing(conn, workflows, "forked_from")
    add_column_if_missing(conn, workflows, "forked_from_position")
    create_table_if_missing(conn, workflow_moves)
