"""Revision 6: a suspended workflow's wake condition on its row, with a due-time index and
an index of waits on another workflow (events, children).

The DDL is frozen here as it was at revision 6 (see revision 2). The columns only expand
the table, but the rows they describe do not: newer code suspends workflows (status
SUSPENDED, held by nobody), and code that predates suspension does not know that status. It
would take a suspended child for a finished one (its handles read any status outside
ENQUEUED/PENDING as an end), never wake a suspended workflow, and count it nowhere in queue
limits or drains. So this revision raises ``MIN_CODE``: older code refuses to start on it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Index, MetaData, String, Table
from sqlalchemy import text as sql

from ..migrate import add_column_if_missing

MIN_CODE = 6  # code before revision 6 mis-handles SUSPENDED rows (see above)

_m = MetaData()

_COLUMNS = (
    Column("wait_kind", String(16)),
    Column("wait_topic", String(255)),
    Column("wait_target", String(255)),
    Column("wake_at", BigInteger),
)

_workflows = Table(
    "tether_workflows",
    _m,
    Column("app_name", String(128)),
    Column("status", String(32)),
    Column("wait_target", String(255)),
    Column("wake_at", BigInteger),
)

_SUSPENDED = "status = 'SUSPENDED'"
_INDEXES = (
    Index(
        "ix_tether_wf_wake",
        _workflows.c.wake_at,
        _workflows.c.app_name,
        postgresql_where=sql(_SUSPENDED),
        sqlite_where=sql(_SUSPENDED),
    ),
    Index(
        "ix_tether_wf_wait_target",
        _workflows.c.wait_target,
        _workflows.c.app_name,
        postgresql_where=sql(_SUSPENDED),
        sqlite_where=sql(_SUSPENDED),
    ),
)


def upgrade(conn: Connection, dialect: str) -> None:
    for column in _COLUMNS:
        add_column_if_missing(conn, "tether_workflows", column)
    for index in _INDEXES:
        index.create(conn, checkfirst=True)
