"""What every ``tether`` subcommand shares: the global options' state, ``--json``, and the
shape of a command (options, then one command function, then its rendering)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from .. import commands
from ..app import Tether

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[Any], Any]


class State:
    """Global options, and the app built from them on first use (then closed on exit)."""

    def __init__(self, database_url: str | None, app_name: str | None, as_json: bool) -> None:
        self.database_url = database_url
        self.app_name = app_name
        self.as_json = as_json
        self._app: Tether | None = None

    def app(self, *, check_schema: bool = True) -> Tether:
        """The app named by --app on --database-url, to administer (never launched)."""
        if self._app is None:
            self._app = commands.open_app(
                app_name=self.app_name, database_url=self.database_url, check_schema=check_schema
            )
        return self._app

    def code(self, module: str | None, purpose: str, *, check_schema: bool = True) -> Tether:
        """The app that ``--module`` defines, for commands that run workflow code."""
        return commands.load_app(
            module,
            purpose=purpose,
            app_name=self.app_name,
            database_url=self.database_url,
            check_schema=check_schema,
        )

    def close(self) -> None:
        if self._app is not None:
            self._app.close()

    def emit(
        self, result: Any, text: Callable[..., None], *, json: Any = None, **options: Any
    ) -> None:
        """Print ``result`` with ``text(result, **options)``, or as JSON (``json`` when the
        JSON document is a part of the result, such as a list it holds)."""
        if self.as_json:
            click.echo(commands.to_json(result if json is None else json))
        else:
            text(result, **options)


pass_state = click.make_pass_decorator(State)


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


def command(group: click.Group | None, name: str, *params: Decorator) -> Callable[[F], Any]:
    """A subcommand of ``group`` (or a standalone one) taking ``params``, then ``--json``,
    called with the State first."""

    def decorate(fn: F) -> click.Command:
        wrapped: Any = json_option(pass_state(fn))
        for param in reversed(params):
            wrapped = param(wrapped)
        make = click.command if group is None else group.command
        return make(name)(wrapped)

    return decorate


def on_one(
    group: click.Group,
    name: str,
    argument: str,
    run: Callable[[Tether, str], Any],
    text: Callable[[Any], None],
    doc: str,
) -> click.Command:
    """A subcommand on one ``argument`` (a workflow id, a schedule name): ``run(app, value)``
    and render its record with ``text``; ``doc`` is its help."""

    def callback(state: State, **values: str) -> None:
        state.emit(run(state.app(), values[argument]), text)

    callback.__doc__ = doc
    built: click.Command = command(group, name, click.argument(argument))(callback)
    return built


class StatusChoice(click.Choice[str]):
    """Statuses in any case (``--status pending``), shown and returned in upper case."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return super().convert(value.upper() if isinstance(value, str) else value, param, ctx)


MODULE = click.option(
    "--module",
    "--app-module",
    "module",
    envvar="TETHER_APP_MODULE",
    metavar="MODULE:APP",
    help="The module defining your Tether app, as package.module:attribute: the workflow "
    "code to replay histories on (for a migration, the target version's code). "
    "[env var: TETHER_APP_MODULE]",
)
