"""tether's operator surfaces over HTTP: the admin JSON API (``/api/``) and the dashboard.

Both call the command functions the CLI runs (``tether.commands``). Serve them with
``tether dashboard`` (a process of their own, on the database) or mount them in your app
(``tether serve --dashboard`` mounts them at ``/dashboard``)::

    from tether.dashboard import dashboard_app
    api.mount("/dashboard", dashboard_app(app, token=os.environ["TETHER_DASHBOARD_TOKEN"]))

With a token, every request must carry it (``Authorization: Bearer <token>``, or the cookie
the sign-in form sets).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount

from ..app import Tether
from . import api, pages
from .auth import ENV as TOKEN_ENV
from .auth import TokenAuth
from .context import Context


def dashboard_app(
    app: Tether, *, code: Tether | None = None, token: str | None = None
) -> Starlette:
    """The API under ``/api`` and the pages at ``/``, for ``app`` (never launched here).

    ``code`` is the app built by the module defining the workflows (the patch report replays
    on it; ``app`` itself when it has them). ``token``: require it on every request.
    """
    if code is None and any(not n.startswith("tether.") for n in app.registry.workflows):
        code = app  # it defines workflows of its own (tether's are always registered)
    ctx = Context(app, code=code)
    middleware = [Middleware(TokenAuth, token=token)] if token else []
    return Starlette(
        routes=[Mount("/api", routes=api.routes(ctx)), *pages.routes(ctx)],
        middleware=middleware,
    )


__all__ = ["TOKEN_ENV", "Context", "dashboard_app"]
