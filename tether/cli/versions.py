"""``tether versions``: the version registry (list, tag, retire, current)."""

from __future__ import annotations

import click

from .. import commands
from ..render import versions as show
from .base import State, command, json_option


@click.group("versions", invoke_without_command=True)
@json_option
@click.pass_context
def versions(ctx: click.Context) -> None:
    """Every version: release, state, open workflows, executors, orphaned work, current."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(versions_list)


@command(versions, "list")
def versions_list(state: State) -> None:
    """List versions (the default of `tether versions`)."""
    state.emit(commands.list_versions(state.app()), show.versions)


@command(
    versions,
    "tag",
    click.argument("version"),
    click.argument("release", required=False),
    click.option("--clear", is_flag=True, help="Remove the version's release tag."),
)
def versions_tag(state: State, version: str, release: str | None, clear: bool) -> None:
    """Tag VERSION with a PEP 440 RELEASE (e.g. 1.4.0), or --clear its tag."""
    if clear == (release is not None):
        raise click.UsageError("give either RELEASE or --clear")
    state.emit(commands.tag_version(state.app(), version, release), show.tagged)


@command(versions, "retire", click.argument("version"))
def versions_retire(state: State, version: str) -> None:
    """Retire VERSION once it is drained (no new work routed to it, nothing open)."""
    state.emit(commands.retire_version(state.app(), version), show.retired)


@command(versions, "unretire", click.argument("version"))
def versions_unretire(state: State, version: str) -> None:
    """Undo `versions retire`: VERSION may launch, start work and be routed to again."""
    state.emit(commands.unretire_version(state.app(), version), show.unretired)


@command(
    versions,
    "current",
    click.argument("version", required=False),
    click.option("--force", is_flag=True, help="Even if no live executor runs VERSION."),
)
def versions_current(state: State, version: str | None, force: bool) -> None:
    """Show the current version (where new work goes), or point it at VERSION."""
    result = commands.current_version(state.app(), version, force=force)
    state.emit(result, show.current, changed=version is not None)
