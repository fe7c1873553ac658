"""``tether replay``, ``tether patches`` and ``tether workflows export``.

Replay and the patch report run your workflow code against recorded histories, so they need
it: ``--module your.package.module:app`` (or TETHER_APP_MODULE) imports the module defining
your ``Tether`` app; nothing is launched, executed or written. Export needs only the database.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from tether.runtime.errors import ConfigurationError
from tether.runtime.records import Status
from tether.versioning import history_io
from tether.versioning.patch_report import KEEP, SAFE_TO_REMOVE, PatchReport
from tether.versioning.replay import DIVERGED, PASSED, Replayer, ReplayResult

from . import render
from .app import Tether
from .cli import State, StatusChoice, cli, json_option, pass_state, workflows
from .cli_versions import load_app

MODULE_HELP = (
    "The module defining your Tether app, as package.module:attribute: the code to replay "
    "on. [env var: TETHER_APP_MODULE]"
)
_STYLE = {PASSED: "green", DIVERGED: "red", "error": "yellow"}


def _module_option(fn: Any) -> Any:
    return click.option(
        "--module",
        "--app-module",
        "module",
        envvar="TETHER_APP_MODULE",
        metavar="MODULE:APP",
        help=MODULE_HELP,
    )(fn)


def _code(state: State, module: str | None, what: str) -> Tether:
    if not module:
        raise ConfigurationError(
            f"{what} runs your workflow code: pass --module your.module:app "
            "(or set TETHER_APP_MODULE)"
        )
    return load_app(module, state)


# -- tether replay ----------------------------------------------------------------------------


@cli.command("replay")
@_module_option
@click.option("--workflow-id", "workflow_ids", multiple=True, help="Only these (repeatable).")
@click.option("--version", help="Only workflows tethered to this version.")
@click.option("--name", help="Only workflows with this name.")
@click.option("--status", multiple=True, type=StatusChoice(Status.ALL), help="Only these statuses.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many (newest first).")
@click.option(
    "--from-dir",
    type=click.Path(exists=True, path_type=Path),
    help="Replay exported history files from this folder (or file) instead of the database.",
)
@click.option("--fail-fast", is_flag=True, help="Stop at the first that does not replay.")
@json_option
@pass_state
@click.pass_context
def replay_cmd(
    ctx: click.Context,
    state: State,
    module: str | None,
    workflow_ids: tuple[str, ...],
    version: str | None,
    name: str | None,
    status: tuple[str, ...],
    limit: int | None,
    from_dir: Path | None,
    fail_fast: bool,
) -> None:
    """Replay recorded workflows on your current code: no side effects, no writes.

    Exits 1 when any history diverges or fails, with the first divergence explained."""
    app = _code(state, module, "replay")
    replayer = Replayer(app)
    with _progress(quiet=state.as_json) as progress:
        task = progress.add_task("replaying", total=None)

        def step(done: int, total: int, res: ReplayResult) -> None:
            progress.update(task, completed=done, total=total)

        if from_dir is not None:
            files = [from_dir] if from_dir.is_file() else None
            histories = (
                [history_io.WorkflowHistory.load(from_dir)]
                if files
                else history_io.load_dir(from_dir)
            )
            results = replayer.replay_all(histories, fail_fast=fail_fast, progress=step)
        else:
            app.store.check_schema()
            results = replayer.replay_many(
                workflow_ids=list(workflow_ids) or None,
                version=version,
                name=name,
                status=list(status) or None,
                limit=limit,
                fail_fast=fail_fast,
                progress=step,
            )
    state.emit([r.to_dict() for r in results], lambda _: _replay_summary(results, replayer))
    if any(not r.passed for r in results):
        ctx.exit(1)


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True, quiet=quiet),
        transient=True,
    )


def _replay_summary(results: Sequence[ReplayResult], replayer: Replayer) -> None:
    if not results:
        render.message("nothing to replay")
        return
    by_version: dict[str, Counter[str]] = {}
    for r in results:
        by_version.setdefault(r.version, Counter())[r.outcome] += 1
    table = render._table("RECORDED BY VERSION", "PASSED", "DIVERGED", "ERROR", "TOTAL")
    for version, counts in sorted(by_version.items()):
        table.add_row(
            version,
            Text(str(counts[PASSED]), style="green" if counts[PASSED] else ""),
            Text(str(counts[DIVERGED]), style="red" if counts[DIVERGED] else ""),
            Text(str(counts["error"]), style="yellow" if counts["error"] else ""),
            str(sum(counts.values())),
        )
    render._out(table)
    failed = [r for r in results if not r.passed]
    if failed:
        detail = render._table("WORKFLOW ID", "VERSION", "STATUS", "OUTCOME", "WHERE", "WHY")
        for r in failed:
            d = r.divergence
            where = str(d.position) if d else "-"
            why = (
                f"recorded {d.recorded}, code asked for {d.requested}"
                + (f" (nearest patch {d.nearest_patch!r})" if d.nearest_patch else "")
                if d
                else (r.error or "")
            )
            detail.add_row(
                r.workflow_id,
                r.version,
                render.status_text(r.status or "-"),
                Text(r.outcome, style=_STYLE[r.outcome]),
                where,
                render.short(why, 120),
            )
        render._out(detail)
        first = next((r for r in failed if r.divergence is not None), None)
        if first is not None:
            render.message(f"\nfirst divergence in full:\n{first.divergence}")
    passed = len(results) - len(failed)
    render.message(
        f"{passed} of {len(results)} replayed cleanly on version {replayer.code_version}"
        + (f"; {len(failed)} did not" if failed else "")
    )


# -- tether workflows export ------------------------------------------------------------------


@workflows.command("export")
@click.argument("workflow_ids", nargs=-1, required=True)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write one <workflow id>.json per workflow into.",
)
@json_option
@pass_state
def workflows_export(state: State, workflow_ids: tuple[str, ...], out: Path) -> None:
    """Export workflow histories as JSON files, to replay in tests (tether.testing)."""
    app = state.app()
    app.store.check_schema()
    paths = history_io.export(app.store, workflow_ids, out)
    state.emit(
        [str(p) for p in paths],
        lambda ps: render.message(f"exported {len(ps)} histories to {out}: " + ", ".join(ps)),
    )


# -- tether patches ---------------------------------------------------------------------------


@cli.command("patches")
@_module_option
@json_option
@pass_state
def patches_cmd(state: State, module: str | None) -> None:
    """Per patch gate: open workflows on the old path (by replay), histories with its marker,
    and which lifecycle step (deprecate, remove) is safe now."""
    app = _code(state, module, "the patch report")
    app.store.check_schema()
    report = app.patch_report()
    state.emit(report.to_dict(), lambda _: _patch_table(report))


def _patch_table(report: PatchReport) -> None:
    if not report.patches:
        render.message("no patch gates in this code, the version registry or history")
        return
    table = render._table(
        "PATCH", "IN CODE", "OLD PATH", "NEW PATH", "UNKNOWN", "AT RISK", "MARKERS", "VERDICT"
    )
    for p in report.patches:
        verdict_style = "yellow" if p.verdict == KEEP else "green"
        if p.problem:
            verdict_style = "red"
        table.add_row(
            p.name,
            p.in_code or "(removed)",
            str(p.open_old_path),
            str(p.open_new_path),
            str(p.open_unknown),
            str(p.open_at_risk),
            f"{p.markers} ({p.open_markers} open)",
            Text(p.verdict, style=verdict_style),
        )
    render._out(table)
    for p in report.patches:
        line = f"{p.name}: {p.next_step}"
        if p.old_path_ids:
            line += f" (e.g. {', '.join(p.old_path_ids[:3])})"
        render.message(line)
        if p.problem:
            render._out(Text(f"  problem: {p.problem}", style="red"))
    if report.not_replaying:
        render._out(
            Text(
                f"{len(report.not_replaying)} of {report.open_replayed} open workflows do not "
                f"replay on version {report.code_version}: `tether replay --status PENDING "
                "--status PARKED` explains why",
                style="yellow",
            )
        )
    safe = sum(p.verdict == SAFE_TO_REMOVE for p in report.patches)
    render.message(f"{len(report.patches)} patch(es); {safe} safe to remove")
