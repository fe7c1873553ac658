"""Reading what the demo checks: the database's rows and the side-effect log's lines."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tether.runtime.store import Store
from tether.runtime.store.schema import operations as O
from tether.runtime.store.schema import workflows as W

from .invariants import Effect, OperationRow, WorkflowRow

AGENT = "refund_agent"


def workflows(store: Store) -> dict[str, WorkflowRow]:
    """Every agent workflow of the app, by id."""
    out: dict[str, WorkflowRow] = {}
    offset = 0
    while True:
        page = store.workflows.list(name=AGENT, limit=1000, offset=offset, newest_first=False)
        for r in page:
            out[r.workflow_id] = WorkflowRow(r.workflow_id, r.status, r.version, r.output)
        if len(page) < 1000:
            return out
        offset += len(page)


def operations(store: Store) -> list[OperationRow]:
    """Every recorded operation of the app's agent workflows, with who recorded it."""
    stmt = (
        select(
            O.c.workflow_id,
            O.c.position,
            O.c.kind,
            O.c.name,
            O.c.output,
            O.c.version,
            O.c.executor_id,
        )
        .join(W, (W.c.app_name == O.c.app_name) & (W.c.workflow_id == O.c.workflow_id))
        .where(O.c.app_name == store.app_name, W.c.name == AGENT)
        .order_by(O.c.workflow_id, O.c.position)
    )
    return store.db.reading(lambda c: [OperationRow(*row) for row in c.execute(stmt)])


def runnable(store: Store) -> dict[str, frozenset[str]]:
    """Each executor version → every version its executors declared they may run."""
    out: dict[str, set[str]] = {}
    for e in store.executors.list(0, include_stopped=True):
        out.setdefault(e.version, set()).update(e.runnable_versions)
    return {v: frozenset(s) for v, s in out.items()}


def counts(store: Store) -> dict[tuple[str, str], int]:
    """(version, status) → number of agent workflows: what the live view shows."""
    stmt = (
        select(W.c.version, W.c.status, func.count())
        .where(W.c.app_name == store.app_name, W.c.name == AGENT)
        .group_by(W.c.version, W.c.status)
    )
    rows = store.db.reading(lambda c: c.execute(stmt).all())
    return {(str(v), str(s)): int(n) for v, s, n in rows}


def effect_lines(path: Path) -> list[dict[str, Any]]:
    """The side-effect log's lines, in order (a line cut short by a kill is skipped)."""
    if not path.exists():
        return []
    out = []
    for text in path.read_text().splitlines():
        try:
            out.append(json.loads(text))
        except ValueError:
            continue
    return out


def effects(lines: Sequence[Mapping[str, Any]]) -> list[Effect]:
    return [
        Effect(
            str(e["wid"]), str(e["step"]), str(e["token"]), str(e["executor"]), str(e["version"])
        )
        for e in lines
    ]


def last_finished(store: Store, version: str) -> tuple[str, float] | None:
    """The agent workflow of ``version`` that finished last, and when (epoch seconds)."""
    stmt = (
        select(W.c.workflow_id, W.c.completed_at)
        .where(
            W.c.app_name == store.app_name,
            W.c.name == AGENT,
            W.c.version == version,
            W.c.completed_at.is_not(None),
        )
        .order_by(W.c.completed_at.desc())
        .limit(1)
    )
    row = store.db.reading(lambda c: c.execute(stmt).first())
    return None if row is None else (str(row[0]), int(row[1]) / 1000)
