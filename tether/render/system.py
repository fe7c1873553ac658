"""The fleet and the database: executors, migrations, and how a process identifies itself."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from ..commands import ExecutorRecord, Info, MigrateResult
from .base import age, key_values, message, out, table


def executors(records: Sequence[ExecutorRecord]) -> None:
    if not records:
        out("no live executors (use --all to include stopped ones)")
        return
    grid = table("EXECUTOR", "VERSION", "RUNS", "STATE", "ALIVE", "HOST", "PID", "HEARTBEAT")
    for r in records:
        grid.add_row(
            r.executor_id,
            r.version,
            ", ".join(r.runnable_versions),
            _styled(shown_state(r.state, r.alive)),
            Text("yes", style="green") if r.alive else Text("no", style="red"),
            r.host or "-",
            str(r.pid) if r.pid is not None else "-",
            age(r.heartbeat_at),
        )
    out(grid)


def shown_state(state: str, alive: bool) -> str:
    """An executor's state as an operator reads it: one that stopped heartbeating while
    RUNNING or DRAINING died (its lease lapsed); its stored state is only its last word.
    A DISCONNECTED one is alive but cannot reach the database (it claims nothing and its
    runs stop at their next step); once its lease lapses peers take its workflows, though
    it may come back."""
    if state == "DISCONNECTED":
        return state if alive else "DISCONNECTED (lease lapsed)"
    if not alive and state != "STOPPED":
        return f"DEAD (was {state})"
    return state


def _styled(shown: str) -> Text:
    style = "red" if shown.startswith(("DEAD", "DISCONNECTED")) else ""
    return Text(shown, style=style)


def migrated(result: MigrateResult) -> None:
    if result.applied:
        applied = ", ".join(str(n) for n in result.applied)
        message(f"migrated {result.database_url} to revision {result.revision} (applied {applied})")
    else:
        message(f"{result.database_url} is up to date (revision {result.revision})")


def info(data: Info) -> None:
    key_values(
        [
            ("app", data.app_name),
            ("version", f"{data.version} (from {data.version_source})"),
            ("executor id", f"{data.executor_id} (from {data.executor_id_source})"),
            ("database", data.database_url),
            ("schema", f"revision {data.schema_revision or 'none'}: {data.schema_status}"),
            ("code schema", f"revision {data.schema_head}"),
            ("tether", data.tether_version),
        ]
    )
