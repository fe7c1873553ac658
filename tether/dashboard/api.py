"""The admin JSON API under ``/api/``: the command functions the CLI runs, over HTTP.

Every handler parses its request, calls one function of ``tether.commands`` and answers with
its record as JSON (``commands.jsonable``), so the API, the dashboard and the CLI agree.
Reads are GETs; every change is an explicit POST. Bad input is a 4xx JSON error saying what
was wrong (``{"error": ...}``) and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tether.rollout.errors import RolloutError, RolloutNotFoundError
from tether.runtime.errors import (
    ConfigurationError,
    SchemaError,
    TetherError,
    WorkflowConflictError,
    WorkflowNotFoundError,
)

from .. import commands
from ..commands import rollouts as rollout_commands
from ..serving import RequestError
from .context import Context

Handler = Callable[[Request], Any]


def json_response(data: Any, status: int = 200) -> Response:
    body = json.dumps(commands.jsonable(data), ensure_ascii=False)
    return Response(body, status_code=status, media_type="application/json")


def status_for(exc: TetherError) -> int:
    """The HTTP status of one of tether's errors (pure)."""
    if isinstance(exc, RequestError):
        return exc.status
    if isinstance(exc, WorkflowNotFoundError | RolloutNotFoundError):
        return 404
    if isinstance(exc, RolloutError):
        return 409  # e.g. an action on a rollout that has ended
    if isinstance(exc, WorkflowConflictError):
        return 409
    if isinstance(exc, SchemaError):
        return 503
    return 400  # ConfigurationError and the rest: the request asked for something invalid


def error_response(exc: TetherError) -> Response:
    details = exc.to_dict() if isinstance(exc, RequestError) else {"error": str(exc)}
    return json_response(details, status_for(exc))


def endpoint(fn: Callable[[Context, Request], Any]) -> Callable[[Context], Handler]:
    """Bind a handler to the dashboard's context; its TetherErrors become JSON errors."""

    def bind(ctx: Context) -> Handler:
        async def handle(request: Request) -> Response:
            body = await request.body() if request.method == "POST" else b""
            request.state.body = body
            try:
                result = await ctx.run(fn, ctx, request)
            except TetherError as exc:
                return error_response(exc)
            return result if isinstance(result, Response) else json_response(result)

        return handle

    return bind


def json_body(request: Request, allowed: set[str]) -> dict[str, Any]:
    """The POST body as a JSON object holding only ``allowed`` keys (empty body: ``{}``)."""
    raw: bytes = request.state.body
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError(400, f"the body must be a JSON object with keys {sorted(allowed)}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise RequestError(400, f"unknown keys {unknown}: use {sorted(allowed)}")
    return data


def int_param(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RequestError(400, f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise RequestError(400, f"{name} must be within {low}..{high}, got {value}")
    return value


def float_param(request: Request, name: str, default: float, *, low: float, high: float) -> float:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise RequestError(400, f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise RequestError(400, f"{name} must be within {low:g}..{high:g}, got {value:g}")
    return value


# -- versions and routing ---------------------------------------------------------------------


@endpoint
def versions(ctx: Context, request: Request) -> Any:
    return {
        "versions": commands.list_versions(ctx.app),
        "routing": commands.show_routing(ctx.app),
        "executors": commands.list_executors(ctx.app),
    }


@endpoint
def routing(ctx: Context, request: Request) -> Any:
    return commands.show_routing(ctx.app)


@endpoint
def set_routing(ctx: Context, request: Request) -> Any:
    body = json_body(request, {"current", "ramping", "percent"})
    for key in ("current", "ramping"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise RequestError(400, f'"{key}" must be a version name (a string) or null')
    percent = body.get("percent")
    if percent is not None and (isinstance(percent, bool) or not isinstance(percent, int | float)):
        raise RequestError(400, '"percent" must be a number within 0..100')
    return commands.set_routing(
        ctx.app,
        current=body.get("current"),
        ramping=body.get("ramping"),
        percent=None if percent is None else float(percent),
    )


@endpoint
def retire(ctx: Context, request: Request) -> Any:
    return retire_version(ctx, request.path_params["version"])


def retire_version(ctx: Context, ref: str) -> Any:
    """Retire ``ref``: 404 when no version has that name or release, 409 while it has work."""
    known = commands.list_versions(ctx.app)
    if not any(ref in (v.version, v.release) for v in known):
        raise RequestError(404, f"no version {ref!r}; known: {sorted(v.version for v in known)}")
    try:
        return commands.retire_version(ctx.app, ref)
    except ConfigurationError as exc:
        raise RequestError(409, str(exc)) from None


# -- workflows --------------------------------------------------------------------------------


@endpoint
def workflows(ctx: Context, request: Request) -> Any:
    limit = int_param(request, "limit", 50, low=1, high=1000)
    offset = int_param(request, "offset", 0, low=0, high=10**9)
    statuses = [s.upper() for s in request.query_params.getlist("status") if s]
    rows = commands.list_workflows(
        ctx.app,
        status=statuses,
        version=request.query_params.get("version") or None,
        name=request.query_params.get("name") or None,
        limit=limit + 1,  # one more tells whether a next page exists
        offset=offset,
    )
    more = len(rows) > limit
    return {
        "workflows": rows[:limit],
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if more else None,
    }


@endpoint
def workflow(ctx: Context, request: Request) -> Any:
    return commands.workflow_timeline(ctx.app, request.path_params["workflow_id"])


@endpoint
def cancel(ctx: Context, request: Request) -> Any:
    json_body(request, set())
    return commands.cancel_workflow(ctx.app, request.path_params["workflow_id"])


@endpoint
def resume(ctx: Context, request: Request) -> Any:
    json_body(request, set())
    return commands.resume_workflow(ctx.app, request.path_params["workflow_id"])


# -- rollouts --------------------------------------------------------------------------------

ROLLOUT_ACTIONS = ("pause", "resume", "approve", "promote", "abort")


@endpoint
def rollouts(ctx: Context, request: Request) -> Any:
    limit = int_param(request, "limit", 20, low=1, high=500)
    service = request.query_params.get("service") or None
    return {"rollouts": rollout_commands.list_rollouts(ctx.app, service=service, limit=limit)}


@endpoint
def rollout(ctx: Context, request: Request) -> Any:
    return rollout_commands.rollout_status(ctx.app, request.path_params["rollout_id"])


@endpoint
def control_rollout(ctx: Context, request: Request) -> Any:
    json_body(request, {"by"})
    action = request.path_params["action"]
    if action not in ROLLOUT_ACTIONS:
        raise RequestError(404, f"no rollout action {action!r}: use one of {ROLLOUT_ACTIONS}")
    return rollout_commands.control_rollout(
        ctx.app, request.path_params["rollout_id"], action, by="dashboard"
    )


# -- patches, queues, executors ---------------------------------------------------------------


@endpoint
def patches(ctx: Context, request: Request) -> Any:
    return commands.patch_report(ctx.require_code())


@endpoint
def queues(ctx: Context, request: Request) -> Any:
    window = float_param(request, "window", 60.0, low=1.0, high=86400.0)
    history = float_param(request, "history", 900.0, low=60.0, high=7 * 86400.0)
    return {
        "window_s": window,
        "queues": commands.queue_stats(ctx.app, window),
        "series": commands.queue_series(ctx.app, window=history),
        "schedules": commands.list_schedules(ctx.app),
    }


@endpoint
def executors(ctx: Context, request: Request) -> Any:
    stopped = request.query_params.get("include_stopped", "") in ("1", "true", "yes")
    return {"executors": commands.list_executors(ctx.app, include_stopped=stopped)}


def routes(ctx: Context) -> list[BaseRoute]:
    return [
        Route("/versions", versions(ctx), methods=["GET"]),
        Route("/versions/{version}/retire", retire(ctx), methods=["POST"]),
        Route("/routing", routing(ctx), methods=["GET"]),
        Route("/routing", set_routing(ctx), methods=["POST"]),
        Route("/workflows", workflows(ctx), methods=["GET"]),
        Route("/workflows/{workflow_id}", workflow(ctx), methods=["GET"]),
        Route("/workflows/{workflow_id}/cancel", cancel(ctx), methods=["POST"]),
        Route("/workflows/{workflow_id}/resume", resume(ctx), methods=["POST"]),
        Route("/rollouts", rollouts(ctx), methods=["GET"]),
        Route("/rollouts/{rollout_id}", rollout(ctx), methods=["GET"]),
        Route("/rollouts/{rollout_id}/{action}", control_rollout(ctx), methods=["POST"]),
        Route("/patches", patches(ctx), methods=["GET"]),
        Route("/queues", queues(ctx), methods=["GET"]),
        Route("/executors", executors(ctx), methods=["GET"]),
    ]
