"""The ``tether`` command: inspect and administer workflows, executors and versions.

Every command but ``tether serve`` works on the database only and never launches the app,
so it runs no workflows and registers no executor. Each subcommand parses its options, calls
one function of ``tether.commands`` and renders the record it returns (a table, or ``--json``).
Errors
tether raises on purpose are printed as one line (exit 1); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import logging
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from tether.runtime.errors import TetherError

from .. import commands
from .base import State
from .dashboard import dashboard_cmd
from .demo import demo_cmd
from .gc import gc_cmd
from .queues import queue_limits_group, queues_cmd, routing_group, schedules_group
from .replay import patches_cmd, replay_cmd
from .rollout import revisions_cmd, rollout
from .serve import serve_cmd
from .system import executors_cmd, info_cmd, migrate_cmd
from .versions import versions
from .workflows import send_cmd, workflows


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


for _command in (
    workflows,
    executors_cmd,
    versions,
    replay_cmd,
    patches_cmd,
    queues_cmd,
    queue_limits_group,
    routing_group,
    schedules_group,
    migrate_cmd,
    info_cmd,
    serve_cmd,
    send_cmd,
    dashboard_cmd,
    gc_cmd,
    rollout,
    revisions_cmd,
    demo_cmd,
):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="tether")


__all__ = ["cli", "main"]
