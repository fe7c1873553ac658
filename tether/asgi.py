"""tether's HTTP endpoints for ASGI servers: a mountable router and a lifespan.

``tether serve`` runs exactly this app. A team that already has a FastAPI (or Starlette)
service mounts the router and hands tether's lifespan to its app, so one process serves
both::

    from fastapi import FastAPI
    from tether.asgi import lifespan, router

    api = FastAPI(lifespan=lifespan(app))      # launches tether on startup, drains on shutdown
    api.mount("/tether", router(app))          # /tether/healthz, /tether/wake, /tether/workflows

Mounted apps' own lifespans are not run by Starlette or FastAPI, hence the separate lifespan.
Endpoints (relative to the mount point; ``tether serve`` mounts them at ``/`` with the wake
endpoint at ``/tether/wake``):

- ``GET /healthz``: 200 when the executor is registered and heartbeating and the database
  answers, else 503 with the reason;
- ``POST /wake``: run a recovery round now (what a tag URL wake-up reaches);
- ``POST /workflows/{name}`` with ``{"args", "kwargs", "workflow_id"}``: start a workflow,
  answered with ``{"workflow_id", "version"}``;
- ``GET /workflows/{id}``: its status, version, output or error.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, Router

from . import serving
from .app import Tether

Lifespan = Callable[[Any], AbstractAsyncContextManager[None]]


def _json(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, default=str, ensure_ascii=False)
    return Response(body, status_code=status, media_type="application/json")


def _error(exc: serving.RequestError) -> Response:
    return _json(exc.to_dict(), exc.status)


def routes(app: Tether, *, wake_path: str = "/wake") -> list[BaseRoute]:
    """The endpoints as Starlette routes (sync handlers: Starlette runs them in a thread)."""

    def healthz(request: Request) -> Response:
        result = serving.health(app)
        return _json(result, 200 if result["ok"] else 503)

    def wake(request: Request) -> Response:
        if app._engine is None:
            return _json({"error": "the app is not launched yet"}, 503)
        return _json(serving.wake(app))

    async def start(request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.body()
        try:
            parsed = serving.parse_start(body)
            result = await asyncio.to_thread(serving.start, app, name, parsed)
        except serving.RequestError as exc:
            return _error(exc)
        return _json(result)

    def get(request: Request) -> Response:
        try:
            return _json(serving.get(app, request.path_params["workflow_id"]))
        except serving.RequestError as exc:
            return _error(exc)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route(wake_path, wake, methods=["POST"]),
        # One path, two methods: POST starts the named workflow, GET reads a workflow by id.
        Route("/workflows/{name}", start, methods=["POST"]),
        Route("/workflows/{workflow_id}", get, methods=["GET"]),
    ]


def router(app: Tether) -> Router:
    """The endpoints as a mountable router (mount it at ``/tether``)."""
    return Router(routes=routes(app))


def lifespan(app: Tether, *, grace: float | None = None) -> Lifespan:
    """A lifespan that launches ``app`` on startup and drains it on shutdown.

    Launch runs on the server's main thread (under uvicorn), so the app's SIGTERM handler is
    installed on top of the server's and calls it: SIGTERM starts the drain at once while the
    server stops taking requests; shutdown then waits for that drain to finish.
    """

    @asynccontextmanager
    async def run(_asgi_app: Any) -> AsyncIterator[None]:
        app.launch()
        try:
            yield
        finally:
            await asyncio.to_thread(app.shutdown, grace)

    return run


def tether_asgi_app(
    app: Tether, *, grace: float | None = None, dashboard_token: str | None = None
) -> Starlette:
    """A whole ASGI app: the endpoints at ``/`` (wake at ``/tether/wake``) and the lifespan.

    With ``dashboard_token``, the admin API and dashboard are mounted at ``/dashboard``
    behind that token. This is what ``tether serve`` runs under uvicorn.
    """
    served = routes(app, wake_path="/tether/wake")
    if dashboard_token:
        from .dashboard import dashboard_app

        served.append(Mount("/dashboard", dashboard_app(app, token=dashboard_token)))
    return Starlette(routes=served, lifespan=lifespan(app, grace=grace))
