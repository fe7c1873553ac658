"""``tether replay`` and ``tether patches``: recorded histories run on your current code.

They need the code: ``--module your.package.module:app`` (or TETHER_APP_MODULE) imports the
module defining your ``Tether`` app; nothing is launched, executed or written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tether.runtime.records import Status

from .. import commands
from ..render import replay as show
from .base import MODULE, State, StatusChoice, command


@command(
    None,
    "replay",
    MODULE,
    click.option("--workflow-id", "workflow_ids", multiple=True, help="Only these (repeatable)."),
    click.option("--version", help="Only workflows tethered to this version."),
    click.option("--name", help="Only workflows with this name."),
    click.option(
        "--status", multiple=True, type=StatusChoice(Status.ALL), help="Only these statuses."
    ),
    click.option("--limit", type=click.IntRange(min=1), help="At most this many (newest first)."),
    click.option(
        "--from-dir",
        "from_path",
        type=click.Path(exists=True, path_type=Path),
        help="Replay exported history files from this folder (or file) instead of the database.",
    ),
    click.option("--fail-fast", is_flag=True, help="Stop at the first that does not replay."),
)
def replay_cmd(state: State, module: str | None, **options: Any) -> None:
    """Replay recorded workflows on your current code: no side effects, no writes.

    Exits 1 when any history diverges or fails, with the first divergence explained."""
    from_files = options["from_path"] is not None
    code = state.code(module, "replay runs your workflow code", check_schema=not from_files)
    with show.progress(quiet=state.as_json) as bar:
        task = bar.add_task("replaying", total=None)

        def progress(done: int, total: int, _: object) -> None:
            bar.update(task, completed=done, total=total)

        run = commands.replay(code, progress=progress, **options)
    state.emit(run, show.replayed, json=run.results)
    if not run.passed:
        click.get_current_context().exit(1)


@command(
    None,
    "patches",
    MODULE,
    click.option(
        "--check", is_flag=True, help="Exit 1 when the code is past a safe step (for CI)."
    ),
)
def patches_cmd(state: State, module: str | None, check: bool) -> None:
    """Per patch gate: open workflows on the old path (by replay), histories with its marker,
    and which lifecycle step (deprecate, remove) is safe now.

    With --check, exits 1 when a gate was deprecated or removed too early, or an open
    workflow does not replay on this code."""
    code = state.code(module, "the patch report runs your workflow code")
    report = commands.patch_report(code)
    state.emit(report, show.patches)
    if check and (report.problems or report.not_replaying):
        click.get_current_context().exit(1)
