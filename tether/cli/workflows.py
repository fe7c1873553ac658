"""``tether workflows``: list, get, steps, cancel, resume, export, migrate and fork."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tether.runtime.records import Status

from .. import commands
from ..render import workflows as show
from .base import MODULE, State, StatusChoice, command, on_one


@click.group()
def workflows() -> None:
    """List, inspect, cancel and resume workflows."""


@command(
    workflows,
    "list",
    click.option(
        "--status",
        multiple=True,
        type=StatusChoice(Status.ALL),
        help="Only these statuses (repeat for several).",
    ),
    click.option("--version", help="Only workflows tethered to this version."),
    click.option("--name", help="Only workflows with this (registered) name."),
    click.option("--prefix", "id_prefix", help="Only workflow ids starting with this."),
    click.option("--parent", "parent_id", help="Only children of this workflow."),
    click.option("--queue", help="Only workflows that came through this queue."),
    click.option("--forked-from", help="Only forks of this workflow."),
    click.option("--created-after", help="Created at or after this ISO 8601 time (UTC)."),
    click.option("--created-before", help="Created before this ISO 8601 time (UTC)."),
    click.option("--completed-after", help="Finished at or after this ISO 8601 time (UTC)."),
    click.option("--completed-before", help="Finished before this ISO 8601 time (UTC)."),
    click.option("--limit", type=click.IntRange(min=0), default=100, show_default=True),
    click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True),
)
def workflows_list(
    state: State, status: tuple[str, ...], limit: int, offset: int, **filters: Any
) -> None:
    """List workflows, newest first."""
    records = commands.list_workflows(
        state.app(), status=status, limit=limit, offset=offset, **filters
    )
    state.emit(records, show.workflows, limit=limit, offset=offset)


workflows_get = on_one(
    workflows,
    "get",
    "workflow_id",
    commands.get_workflow,
    show.workflow,
    "Show one workflow: status, version, holder, inputs, output or error, moves.",
)


@command(workflows, "steps", click.argument("workflow_id"))
def workflows_steps(state: State, workflow_id: str) -> None:
    """Show the recorded steps and operations of a workflow, in order."""
    result = commands.list_steps(state.app(), workflow_id)
    state.emit(result, show.steps, json=result.steps)


workflows_cancel = on_one(
    workflows,
    "cancel",
    "workflow_id",
    commands.cancel_workflow,
    show.cancelled,
    "Cancel a workflow and its open children (running ones stop at their next step).",
)
workflows_resume = on_one(
    workflows,
    "resume",
    "workflow_id",
    commands.resume_workflow,
    show.resumed,
    "Reopen a cancelled, failed or parked workflow for an executor of its version.",
)


@command(
    workflows,
    "delete",
    click.argument("workflow_id"),
    click.option("--keep-children", is_flag=True, help="Delete only this workflow."),
)
def workflows_delete(state: State, workflow_id: str, keep_children: bool) -> None:
    """Delete a finished workflow with its history, messages, events and streams (and its
    descendants'); an open one is refused: cancel it first."""
    result = commands.delete_workflow(state.app(), workflow_id, children=not keep_children)
    state.emit(result, show.deleted)


@command(
    workflows,
    "stream",
    click.argument("workflow_id"),
    click.argument("key"),
    click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True),
    click.option("--follow", "-f", is_flag=True, help="Keep reading until the stream ends."),
    click.option("--timeout", type=float, help="With --follow: stop after this many idle s."),
)
def workflows_stream(
    state: State,
    workflow_id: str,
    key: str,
    offset: int,
    follow: bool,
    timeout: float | None,
) -> None:
    """Print a workflow's stream KEY from --offset, one entry per line (JSON lines with
    --json); --follow reads live until the workflow closes the stream or finishes."""
    entries = commands.read_stream(
        state.app(), workflow_id, key, offset=offset, follow=follow, timeout=timeout
    )
    for entry in entries:
        if state.as_json:
            click.echo(commands.to_json(entry, indent=None))
        else:
            show.stream_entry(entry)


@command(
    workflows,
    "export",
    click.argument("workflow_ids", nargs=-1, required=True),
    click.option(
        "--out",
        "out",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Folder to write one <workflow id>.json per workflow into.",
    ),
)
def workflows_export(state: State, workflow_ids: tuple[str, ...], out: Path) -> None:
    """Export workflow histories as JSON files, to replay in tests (tether.testing)."""
    result = commands.export_workflows(state.app(), workflow_ids, out)
    state.emit(result, show.exported, json=result.paths)


@command(
    workflows,
    "migrate",
    click.option("--from", "from_version", required=True, help="Version to move workflows off."),
    click.option("--to", "to_version", required=True, help="Version to move them to."),
    click.option(
        "--id", "workflow_ids", multiple=True, help="Only these workflows (repeat for several)."
    ),
    click.option("--dry-run", is_flag=True, help="Replay and report, move nothing."),
    MODULE,
)
def workflows_migrate(state: State, module: str | None, **options: Any) -> None:
    """Move open workflows to another version, only those whose history replays on it."""
    code = state.code(module, "migrating replays histories on the target version's code")
    state.emit(commands.migrate_workflows(code, **options), show.migration)


@command(
    workflows,
    "fork",
    click.argument("workflow_id"),
    click.option(
        "--position",
        "-p",
        type=click.IntRange(min=0),
        required=True,
        help="Copy the history before this position; the fork runs on from here.",
    ),
    click.option("--version", help="Run the fork on this version (default: the original's)."),
    click.option("--id", "new_id", help="The fork's workflow id (default: <id>-fork-<random>)."),
    MODULE,
)
def workflows_fork(
    state: State,
    workflow_id: str,
    position: int,
    version: str | None,
    new_id: str | None,
    module: str | None,
) -> None:
    """Start a new workflow from WORKFLOW_ID's inputs and history up to --position."""
    app = state.code(module, "forking") if module else state.app()
    record = commands.fork_workflow(
        app, workflow_id, position, version=version, new_workflow_id=new_id
    )
    state.emit(record, show.forked)
