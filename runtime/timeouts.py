"""Workflow timeouts: a durable deadline that cancels the workflow and its children.

The deadline is a column of the workflow row: set at start (now + timeout), or for a queued
workflow when it is dequeued; a child gets its parent's deadline (or its own, if sooner).
Every executor sweeps for passed deadlines each recovery round and cancels those workflows
with their descendants; the holder (on this executor or another) sees the cancellation at
its next boundary, like any cancel. Because the deadline is stored, it survives crashes and
takeovers, and fires even while no executor holds the workflow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from .clock import now_ms
from .errors import ConfigurationError
from .store import Store

if TYPE_CHECKING:
    from .registry import WorkflowDef

log = logging.getLogger("tether.timeouts")


def timeout_ms(seconds: float | None, what: str = "workflow_timeout") -> int | None:
    """A timeout in seconds, checked, as milliseconds (None: no timeout)."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ConfigurationError(f"{what} must be a number of seconds > 0 or None, got {seconds!r}")
    return max(1, int(seconds * 1000))


def row_values(ms: int | None, *, started: bool, inherited: int | None = None) -> dict[str, Any]:
    """The timeout columns of a new workflow row: a started one gets its deadline now, a
    queued one when dequeued; ``inherited`` (a parent's deadline) caps it."""
    deadline = now_ms() + ms if (ms is not None and started) else None
    if inherited is not None:
        deadline = inherited if deadline is None else min(deadline, inherited)
    return {"timeout_ms": ms, "deadline_at": deadline}


def columns(
    store: Store,
    conn: Connection,
    wdef: WorkflowDef,
    timeout: float | None,
    parent: tuple[str, int] | None,
) -> dict[str, Any] | None:
    """Timeout columns for a workflow started now (None when it has no deadline)."""
    ms = timeout_ms(timeout) if timeout is not None else wdef.timeout_ms
    inherited = store.timeouts.deadline_of(conn, parent[0]) if parent else None
    if ms is None and inherited is None:
        return None
    return row_values(ms, started=True, inherited=inherited)


def sweep(store: Store, on_cancelled: Callable[[list[str]], None] | None = None) -> list[str]:
    """Cancel every workflow whose deadline passed (with its descendants); the ids."""
    now = now_ms()
    cancelled: list[str] = []
    for wid in store.timeouts.due(now):
        changed = store.timeouts.expire(wid, now)
        if changed:
            log.info("workflow %s passed its deadline: cancelled %s", wid, changed)
            cancelled.extend(changed)
    if cancelled and on_cancelled is not None:
        on_cancelled(cancelled)
    return cancelled
