"""``tether versions`` and ``tether workflows migrate|fork``: the version registry and moving
work between versions.

Replaying histories needs the workflow code of the target version, which the CLI does not
have by itself: ``--module your.package.module:app`` imports the module that defines your
``Tether`` app (run it with the target version's code and TETHER_APP_VERSION).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

import click
from rich.text import Text

from tether.runtime.errors import ConfigurationError
from tether.runtime.records import Status
from tether.runtime.store import normalize_url
from tether.versioning.migration import MigrationReport
from tether.versioning.registry import VersionInfo

from . import render
from .app import Tether
from .cli import State, cli, json_option, pass_state, workflows

MODULE_HELP = (
    "The module defining your Tether app, as package.module:attribute (the target "
    "version's code). [env var: TETHER_APP_MODULE]"
)


def load_app(spec: str, state: State) -> Tether:
    """Import ``module[:attribute]`` and return its ``Tether`` app (not launched here)."""
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"cannot import module {module_name!r}: {exc}") from None
    if attr:
        app = getattr(module, attr, None)
        if not isinstance(app, Tether):
            raise ConfigurationError(f"{spec!r} is not a Tether app")
    else:
        found = [v for v in vars(module).values() if isinstance(v, Tether)]
        if len(found) != 1:
            raise ConfigurationError(
                f"module {module_name!r} defines {len(found)} Tether apps: name one as "
                f"{module_name}:attribute"
            )
        app = found[0]
    if state.app_name and state.app_name != app.app_name:
        raise ConfigurationError(
            f"{spec} is app {app.app_name!r}, but --app says {state.app_name!r}"
        )
    if state.database_url and normalize_url(state.database_url) != normalize_url(
        app.settings.database_url
    ):
        raise ConfigurationError(f"{spec} uses another database than --database-url")
    return app


def _code_app(state: State, module: str | None, what: str) -> Tether:
    if not module:
        raise ConfigurationError(
            f"{what} replays histories on the target version's code: pass --module "
            "your.module:app (or set TETHER_APP_MODULE)"
        )
    return load_app(module, state)


# -- tether versions --------------------------------------------------------------------------


@cli.group("versions", invoke_without_command=True)
@json_option
@click.pass_context
def versions(ctx: click.Context) -> None:
    """Every version: release, state, open workflows, executors, orphaned work, current."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(versions_list)


@versions.command("list")
@json_option
@pass_state
def versions_list(state: State) -> None:
    """List versions (the default of `tether versions`)."""
    app = state.app()
    app.store.check_schema()
    state.emit(app.versions(), _versions_table)


def _versions_table(rows: Sequence[VersionInfo]) -> None:
    if not rows:
        render.message("no versions yet: a version is registered when an executor launches")
        return
    statuses = [Status.ENQUEUED, Status.PENDING, Status.PARKED]
    table = render._table(
        "VERSION", "RELEASE", "STATE", "ROUTING", *statuses, "EXECUTORS", "ORPHANED",
        "PATCHES", "LAST SEEN",
    )  # fmt: skip
    for v in rows:
        routing = "current" if v.current else ""
        if v.ramping_percent is not None:
            routing = f"ramping {v.ramping_percent:g}%"
        orphaned = Text(f"yes ({v.orphaned})", style="red") if v.is_orphaned else Text("no")
        executors = str(v.executors)
        if v.runnable_by != v.executors:
            executors += f" (+{v.runnable_by - v.executors} compatible)"
        table.add_row(
            v.version,
            v.release or "-",
            v.state,
            Text(routing, style="bold green") if v.current else Text(routing or "-"),
            *[str(v.open.get(s, 0)) for s in statuses],
            executors,
            orphaned,
            ", ".join(v.patches) or "-",
            render.age(v.last_seen),
        )
    render._out(table)


@versions.command("tag")
@click.argument("version")
@click.argument("release", required=False)
@click.option("--clear", is_flag=True, help="Remove the version's release tag.")
@json_option
@pass_state
def versions_tag(state: State, version: str, release: str | None, clear: bool) -> None:
    """Tag VERSION with a PEP 440 RELEASE (e.g. 1.4.0), or --clear its tag."""
    if clear == (release is not None):
        raise click.UsageError("give either RELEASE or --clear")
    app = state.app()
    app.store.check_schema()
    tagged = app.tag_version(version, release)
    result = {"version": version, "release": tagged}
    state.emit(result, lambda r: render.message(_tag_text(r)))


def _tag_text(r: dict[str, Any]) -> str:
    if r["release"] is None:
        return f"cleared the release tag of {r['version']}"
    return f"tagged {r['version']} as release {r['release']}"


@versions.command("retire")
@click.argument("version")
@json_option
@pass_state
def versions_retire(state: State, version: str) -> None:
    """Retire VERSION once it is drained (no new work routed to it, nothing open)."""
    app = state.app()
    app.store.check_schema()
    info = app.retire_version(version)
    state.emit(info.to_dict(), lambda r: render.message(f"retired version {r['version']}"))


@versions.command("current")
@click.argument("version", required=False)
@json_option
@pass_state
def versions_current(state: State, version: str | None) -> None:
    """Show the current version (where new work goes), or point it at VERSION."""
    app = state.app()
    app.store.check_schema()
    previous = app.current_version()
    if version is not None:
        app.set_current_version(version)
    routing = app.store.versions.routing()
    result = {
        "current": routing.current,
        "previous": previous,
        "ramping": routing.ramping,
        "ramping_percent": routing.percent,
    }
    state.emit(result, _current_text, changed=version is not None)


def _current_text(r: dict[str, Any], changed: bool) -> None:
    if r["current"] is None:
        render.message("no current version yet: it is set when the app first launches")
        return
    if changed and r["previous"] != r["current"]:
        text = f"current version: {r['current']} (was {r['previous'] or 'unset'})"
    else:
        text = f"current version: {r['current']}"
    if r["ramping"]:
        text += f"; ramping {r['ramping']} at {r['ramping_percent']:g}%"
    render.message(text)


# -- tether workflows migrate / fork ----------------------------------------------------------


@workflows.command("migrate")
@click.option("--from", "from_version", required=True, help="Version to move workflows off.")
@click.option("--to", "to_version", required=True, help="Version to move them to.")
@click.option(
    "--id", "workflow_ids", multiple=True, help="Only these workflows (repeat for several)."
)
@click.option("--dry-run", is_flag=True, help="Replay and report, move nothing.")
@click.option("--module", envvar="TETHER_APP_MODULE", metavar="MODULE:APP", help=MODULE_HELP)
@json_option
@pass_state
def workflows_migrate(
    state: State,
    from_version: str,
    to_version: str,
    workflow_ids: tuple[str, ...],
    dry_run: bool,
    module: str | None,
) -> None:
    """Move open workflows to another version, only those whose history replays on it."""
    app = _code_app(state, module, "migrating")
    app.store.check_schema()
    report = app.migrate_workflows(
        from_version=from_version,
        to_version=to_version,
        workflow_ids=list(workflow_ids) or None,
        dry_run=dry_run,
    )
    state.emit(report.to_dict(), lambda _: _migration_table(report))


def _migration_table(report: MigrationReport) -> None:
    verb = "would move" if report.dry_run else "moved"
    if report.results:
        table = render._table("WORKFLOW ID", "NAME", "STATUS", "OUTCOME", "REASON")
        for r in report.results:
            style = "green" if r.moved else ("" if r.outcome == "nothing_to_do" else "yellow")
            table.add_row(
                r.workflow_id,
                r.name or "-",
                render.status_text(r.status) if r.status else "-",
                Text(r.outcome, style=style),
                r.reason,
            )
        render._out(table)
    render.message(
        f"{verb} {len(report.moved)} workflow(s) from {report.from_version} to "
        f"{report.to_version}; left {len(report.left)} where they are"
    )


@workflows.command("fork")
@click.argument("workflow_id")
@click.option(
    "--position",
    "-p",
    type=click.IntRange(min=0),
    required=True,
    help="Copy the history before this position; the fork runs on from here.",
)
@click.option("--version", help="Run the fork on this version (default: the original's).")
@click.option("--id", "new_id", help="The fork's workflow id (default: <id>-fork-<random>).")
@click.option("--module", envvar="TETHER_APP_MODULE", metavar="MODULE:APP", help=MODULE_HELP)
@json_option
@pass_state
def workflows_fork(
    state: State,
    workflow_id: str,
    position: int,
    version: str | None,
    new_id: str | None,
    module: str | None,
) -> None:
    """Start a new workflow from WORKFLOW_ID's inputs and history up to --position."""
    app = load_app(module, state) if module else state.app()
    app.store.check_schema()
    rec = app.fork(workflow_id, position, version, new_workflow_id=new_id)
    state.emit(rec, _fork_text)


def _fork_text(rec: Any) -> None:
    render.message(
        f"forked {rec.forked_from} at position {rec.forked_from_position} as "
        f"{rec.workflow_id} ({rec.status}, version {rec.version}); an executor running "
        f"{rec.version} will run it"
    )
