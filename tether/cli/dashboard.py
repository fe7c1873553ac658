"""``tether dashboard``: the admin API and the web dashboard, served over the database.

Like every other command it opens the app by name on the database and never launches it;
``--module`` adds the workflow code the patch report replays on. When
``TETHER_DASHBOARD_TOKEN`` is set, every request must carry it.
"""

from __future__ import annotations

import os

import click

from .base import MODULE, State, pass_state


@click.command("dashboard")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8181, show_default=True, help="Port."
)
@MODULE
@pass_state
def dashboard_cmd(state: State, host: str, port: int, module: str | None) -> None:
    """Serve the web dashboard and the admin JSON API (/api/) for the app."""
    import uvicorn

    from tether.dashboard import TOKEN_ENV, dashboard_app

    app = state.app()
    code = state.code(module, "the patch report") if module else None
    token = os.environ.get(TOKEN_ENV) or None
    if token is None and host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            f"warning: serving on {host} without a token: set {TOKEN_ENV} to require one",
            err=True,
        )
    click.echo(f"tether dashboard for app {app.app_name!r} on http://{host}:{port}/", err=True)
    uvicorn.run(dashboard_app(app, code=code, token=token), host=host, port=port, log_level="info")
