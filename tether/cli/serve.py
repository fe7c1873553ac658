"""``tether serve MODULE:APP``: the process a Cloud Run revision runs.

It imports the app, launches its executor and serves ``tether.asgi`` with uvicorn on
``$PORT``. SIGTERM reaches the app's handler first, which starts the drain and calls
uvicorn's handler (installed before it), so the server stops taking requests while steps in
flight finish; uvicorn's shutdown then waits for the drain (at most the app's
``shutdown_grace``) and the process exits.
"""

from __future__ import annotations

import logging
import os

import click

from .. import commands
from .base import State, pass_state


@click.command("serve")
@click.argument("target", metavar="MODULE:APP")
@click.option("--host", default="0.0.0.0", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    envvar="PORT",
    show_envvar=True,
    default=8080,
    show_default=True,
    help="Port to listen on (Cloud Run sets PORT).",
)
@click.option(
    "--app-dir",
    default=".",
    show_default=True,
    help="Directory put first on the import path, to find MODULE.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.option(
    "--dashboard",
    is_flag=True,
    help="Also serve the admin API and dashboard at /dashboard (needs TETHER_DASHBOARD_TOKEN).",
)
@pass_state
def serve_cmd(
    state: State, target: str, host: str, port: int, app_dir: str, log_level: str, dashboard: bool
) -> None:
    """Launch the app's executor and serve its HTTP endpoints (health, wake, workflows)."""
    import uvicorn

    from tether.asgi import tether_asgi_app

    # The global options reach the app through its environment, as on Cloud Run.
    if state.database_url:
        os.environ["TETHER_DATABASE_URL"] = state.database_url
    if state.app_name:
        os.environ["TETHER_APP_NAME"] = state.app_name
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    app = commands.load_app(
        target, purpose="tether serve runs your app", check_schema=False, app_dir=app_dir
    )
    token = os.environ.get("TETHER_DASHBOARD_TOKEN") or None
    if dashboard and token is None:
        raise click.UsageError(
            "--dashboard exposes actions on your workflows: set TETHER_DASHBOARD_TOKEN to the "
            "token requests must carry (Authorization: Bearer <token>)"
        )
    config = uvicorn.Config(
        tether_asgi_app(app, dashboard_token=token if dashboard else None),
        host=host,
        port=port,
        lifespan="on",
        log_level=log_level,
        # In-flight requests get as long as the app's drain; then the drain is waited for.
        timeout_graceful_shutdown=max(1, int(app.settings.shutdown_grace)),
    )
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise SystemExit(3)  # the lifespan (launch) failed: uvicorn logged why
