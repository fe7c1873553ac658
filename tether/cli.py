"""The ``tether`` command: inspect and administer workflows, executors and versions.

It works on the database only and never launches the app, so it runs no workflows and
registers no executor. Errors tether raises on purpose are printed as one line (exit 1);
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError

from tether.runtime.errors import TetherError
from tether.runtime.records import Status

from . import commands, render
from .app import Tether

F = TypeVar("F", bound=Callable[..., Any])


class State:
    """Global options, and the app built from them on first use (then closed on exit)."""

    def __init__(self, database_url: str | None, app_name: str | None, as_json: bool) -> None:
        self.database_url = database_url
        self.app_name = app_name
        self.as_json = as_json
        self._app: Tether | None = None

    def app(self) -> Tether:
        if self._app is None:
            self._app = commands.open_app(app_name=self.app_name, database_url=self.database_url)
        return self._app

    def close(self) -> None:
        if self._app is not None and self._app._store is not None:
            self._app.store.close()

    def emit(self, data: Any, table: Callable[..., None], **options: Any) -> None:
        if self.as_json:
            click.echo(render.to_json(data))
        else:
            table(data, **options)


class TetherGroup(click.Group):
    """Turns tether's own errors (and unreachable databases) into a one-line message."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (TetherError, SQLAlchemyError) as exc:
            if ctx.params.get("debug"):
                raise
            click.echo(f"error: {_describe(exc)}", err=True)
            ctx.exit(1)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SQLAlchemyError):
        orig = getattr(exc, "orig", None)
        detail = commands.first_line(str(orig if orig is not None else exc))
        return f"database error: {detail} (rerun with --debug for details)"
    return " ".join(str(exc).split())


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(State).as_json = True


def json_option(fn: F) -> F:
    """``--json`` after the command name too (``tether workflows list --json``)."""
    return click.option(
        "--json",
        is_flag=True,
        expose_value=False,
        callback=_set_json,
        help="Print JSON instead of a table.",
    )(fn)


pass_state = click.make_pass_decorator(State)


class StatusChoice(click.Choice):
    """Statuses in any case (``--status pending``), shown and returned in upper case."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return super().convert(value.upper() if isinstance(value, str) else value, param, ctx)


@click.group(cls=TetherGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--database-url",
    envvar="TETHER_DATABASE_URL",
    show_envvar=True,
    metavar="URL",
    help="sqlite:///path.db or postgresql://user:password@host:5432/db "
    "[default: sqlite:///tether.db]",
)
@click.option(
    "--app",
    "app_name",
    envvar="TETHER_APP_NAME",
    show_envvar=True,
    metavar="NAME",
    help="The app name that scopes workflows in a shared database.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    envvar="TETHER_JSON",
    show_envvar=True,
    help="Print JSON instead of tables (for scripts).",
)
@click.option(
    "--debug",
    is_flag=True,
    envvar="TETHER_DEBUG",
    show_envvar=True,
    help="Show tracebacks and debug logs.",
)
@click.version_option(package_name="tether", prog_name="tether")
@click.pass_context
def cli(
    ctx: click.Context, database_url: str | None, app_name: str | None, as_json: bool, debug: bool
) -> None:
    """Inspect and administer tether workflows, executors and versions."""
    if debug:
        logging.basicConfig(level=logging.DEBUG)
    state = State(database_url, app_name, as_json)
    ctx.obj = state
    ctx.call_on_close(state.close)


# -- workflows --------------------------------------------------------------------------------


@cli.group()
def workflows() -> None:
    """List, inspect, cancel and resume workflows."""


@workflows.command("list")
@click.option(
    "--status",
    multiple=True,
    type=StatusChoice(Status.ALL),
    help="Only these statuses (repeat for several).",
)
@click.option("--version", help="Only workflows tethered to this version.")
@click.option("--name", help="Only workflows with this (registered) name.")
@click.option("--limit", type=click.IntRange(min=0), default=100, show_default=True)
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True)
@json_option
@pass_state
def workflows_list(
    state: State,
    status: tuple[str, ...],
    version: str | None,
    name: str | None,
    limit: int,
    offset: int,
) -> None:
    """List workflows, newest first."""
    records = commands.list_workflows(
        state.app(), status=status, version=version, name=name, limit=limit, offset=offset
    )
    state.emit(records, render.workflows, limit=limit, offset=offset)


@workflows.command("get")
@click.argument("workflow_id")
@json_option
@pass_state
def workflows_get(state: State, workflow_id: str) -> None:
    """Show one workflow: status, version, holder, inputs, output or error, moves."""
    record = commands.get_workflow(state.app(), workflow_id)
    moves = state.app().workflow_moves(workflow_id)
    if state.as_json:
        click.echo(render.to_json({**record.to_dict(), "moves": moves}))
    else:
        render.workflow(record, moves=moves)


@workflows.command("steps")
@click.argument("workflow_id")
@json_option
@pass_state
def workflows_steps(state: State, workflow_id: str) -> None:
    """Show the recorded steps and operations of a workflow, in order."""
    steps = commands.list_steps(state.app(), workflow_id)
    state.emit(steps, render.steps, moves=state.app().workflow_moves(workflow_id))


@workflows.command("cancel")
@click.argument("workflow_id")
@json_option
@pass_state
def workflows_cancel(state: State, workflow_id: str) -> None:
    """Cancel a workflow and its open children (running ones stop at their next step)."""
    result = commands.cancel_workflow(state.app(), workflow_id)
    state.emit(result, _cancel_text)


def _cancel_text(result: dict[str, Any]) -> None:
    ids = result["cancelled"]
    if not ids:
        render.message(f"nothing to cancel: {result['workflow_id']} is {result['previous_status']}")
        return
    children = len(ids) - (1 if result["workflow_id"] in ids else 0)
    extra = f" and {children} child workflow(s)" if children else ""
    render.message(f"cancelled {result['workflow_id']}{extra}")


@workflows.command("resume")
@click.argument("workflow_id")
@json_option
@pass_state
def workflows_resume(state: State, workflow_id: str) -> None:
    """Reopen a cancelled, failed or parked workflow for an executor of its version."""
    result = commands.resume_workflow(state.app(), workflow_id)
    state.emit(result, _resume_text)


def _resume_text(result: dict[str, Any]) -> None:
    wid = result["workflow_id"]
    if not result["resumed"]:
        render.message(f"nothing to resume: {wid} is {result['previous_status']}")
        return
    render.message(
        f"resumed {wid} ({result['previous_status']} -> {result['status']}); an executor "
        f"running version {result['version']} will continue it"
    )


# -- fleet ------------------------------------------------------------------------------------


@cli.command("executors")
@click.option("--all", "include_stopped", is_flag=True, help="Include stopped and dead ones.")
@json_option
@pass_state
def executors_cmd(state: State, include_stopped: bool) -> None:
    """List executors with their version and the versions they may run."""
    records = commands.list_executors(state.app(), include_stopped=include_stopped)
    state.emit(records, render.executors)


# -- database and identity --------------------------------------------------------------------


@cli.command("migrate")
@json_option
@pass_state
def migrate_cmd(state: State) -> None:
    """Create or upgrade the tether tables (safe to run from many processes at once)."""
    state.emit(commands.migrate(state.database_url), _migrate_text)


def _migrate_text(result: dict[str, Any]) -> None:
    if result["applied"]:
        applied = ", ".join(str(n) for n in result["applied"])
        render.message(
            f"migrated {result['database_url']} to revision {result['revision']} "
            f"(applied {applied})"
        )
    else:
        render.message(f"{result['database_url']} is up to date (revision {result['revision']})")


@cli.command("info")
@json_option
@pass_state
def info_cmd(state: State) -> None:
    """Show the resolved version, executor id, database and schema revision."""
    state.emit(commands.info(state.app()), _info_text)


def _info_text(data: dict[str, Any]) -> None:
    source = data["version_source"]
    if source == "source hash":
        source += " of no workflows, as the CLI imports none; set TETHER_APP_VERSION"
    render.key_values(
        [
            ("app", data["app_name"]),
            ("version", f"{data['version']} (from {source})"),
            ("executor id", f"{data['executor_id']} (from {data['executor_id_source']})"),
            ("database", data["database_url"]),
            ("schema", f"revision {data['schema_revision'] or 'none'}: {data['schema_status']}"),
            ("code schema", f"revision {data['schema_head']}"),
            ("tether", data["tether_version"]),
        ]
    )


# Commands registered on import: `tether versions ...`, `tether workflows migrate|fork`;
# `tether replay`, `tether patches`, `tether workflows export`; `tether queues`,
# `tether routing`, `tether schedules`.
from . import cli_queues, cli_replay, cli_rollout, cli_versions  # noqa: E402, F401


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="tether")


if __name__ == "__main__":
    main()
