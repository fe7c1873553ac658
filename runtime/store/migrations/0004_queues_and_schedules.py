"""Revision 4: queue order and queue indexes on workflows, and the cron schedules table."""

from __future__ import annotations

from sqlalchemy import Connection

from ..migrate import add_column_if_missing, create_table_if_missing
from ..schema import schedules, workflows

_INDEXES = (
    "ix_tether_wf_dequeue",
    "ix_tether_wf_waiting",
    "ix_tether_wf_q_started",
    "ix_tether_wf_q_done",
)


def upgrade(conn: Connection, dialect: str) -> None:
    add_column_if_missing(conn, workflows, "queue_seq")
    for index in workflows.indexes:
        if index.name in _INDEXES:
            index.create(conn, checkfirst=True)
    create_table_if_missing(conn, schedules)
