"""``tether executors``, ``tether migrate`` and ``tether info``: the fleet and the database."""

from __future__ import annotations

import click

from .. import commands
from ..render import system as show
from .base import MODULE, State, command


@command(
    None,
    "executors",
    click.option("--all", "include_stopped", is_flag=True, help="Include stopped and dead ones."),
)
def executors_cmd(state: State, include_stopped: bool) -> None:
    """List executors with their version and the versions they may run (live ones, and
    those that lost the database: DISCONNECTED)."""
    result = commands.list_executors(state.app(), include_stopped=include_stopped)
    state.emit(result, show.executors)


@command(None, "migrate")
def migrate_cmd(state: State) -> None:
    """Create or upgrade the tether tables (safe to run from many processes at once)."""
    state.emit(commands.migrate(state.database_url), show.migrated)


@command(None, "info", MODULE)
def info_cmd(state: State, module: str | None) -> None:
    """Show the resolved version, executor id, database and schema revision (the version
    of code named by its source hash needs --module)."""
    code = state.code(module, "info", check_schema=False) if module else None
    state.emit(commands.info(state.app(check_schema=False), code), show.info)
