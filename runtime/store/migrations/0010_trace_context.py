"""Revision 10: the trace context a workflow was started under (a W3C ``traceparent``), so
every run of it, the first or one recovered on another executor, joins the starter's trace.

Nullable and written only by code that observes runs: older code ignores the column. The DDL
is frozen here as it was at revision 10 (see revision 2).
"""

from __future__ import annotations

from sqlalchemy import Column, Connection, String

from ..migrate import add_column_if_missing


def upgrade(conn: Connection, dialect: str) -> None:
    # "00-<trace id>-<span id>-<flags>" (55 characters); 128 leaves room for later versions.
    add_column_if_missing(conn, "tether_workflows", Column("trace_context", String(128)))
