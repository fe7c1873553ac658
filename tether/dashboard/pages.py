"""The dashboard's HTML pages and form actions, rendered on the server with Jinja2.

Pages read through the same command functions as the API; each action is a POST form that
calls one command and redirects back (303) with what happened, so every page works without
JavaScript and a reload never repeats an action.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from tether.rollout.controller import ACTIONS, AWAITING_APPROVAL
from tether.runtime.errors import TetherError
from tether.runtime.records import Status

from .. import commands
from ..commands import rollouts as rollout_commands
from .api import retire_version, status_for
from .auth import scope_root
from .context import Context
from .sparkline import sparkline

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(ms: int | None) -> str:
    if ms is None:
        return "–"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ago(ms: int | None) -> str:
    if ms is None:
        return "–"
    seconds = max(0.0, dt.datetime.now(dt.UTC).timestamp() - ms / 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def _duration(ms: float | None) -> str:
    if ms is None:
        return "–"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms / 60_000:.1f} min"


def _spark(values: list[Any], label: str = "") -> Markup:
    return Markup(sparkline(values, label=label))


_env.filters.update(when=_when, ago=_ago, duration=_duration)
_env.globals.update(spark=_spark, Status=Status)


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    base = scope_root(request)
    page = _env.get_template(template).render(
        base=base,
        path=request.url.path[len(base) :] or "/",
        query=request.query_params,
        notice=request.query_params.get("done"),
        problem=request.query_params.get("error"),
        **context,
    )
    return HTMLResponse(page, status_code=status)


def page(fn: Any) -> Any:
    """Bind a page to the context; a TetherError renders the error page with its status."""

    def bind(ctx: Context) -> Any:
        async def handle(request: Request) -> Response:
            try:
                return await ctx.run(fn, ctx, request)
            except TetherError as exc:
                return render(request, "error.html", status_for(exc), message=str(exc))

        return handle

    return bind


# -- pages ------------------------------------------------------------------------------------


def traffic_share(version: Any, routing: commands.RoutingState) -> float:
    """The share of new work a version receives now, in percent (pure)."""
    if version.version == routing.current:
        return 100.0 - (routing.percent if routing.ramping else 0.0)
    if version.version == routing.ramping:
        return routing.percent
    return 0.0


@page
def overview(ctx: Context, request: Request) -> Response:
    versions = commands.list_versions(ctx.app)
    routing = commands.show_routing(ctx.app)
    order = {"active": 0, "draining": 1, "drained": 2, "retired": 3}
    versions.sort(key=lambda v: (order.get(v.state, 9), -(v.last_seen or 0)))
    recent = commands.list_workflows(ctx.app, limit=12)
    problems = commands.list_workflows(
        ctx.app, status=[Status.PARKED, Status.ERROR, Status.RECOVERY_EXHAUSTED], limit=8
    )
    return render(
        request,
        "overview.html",
        versions=versions,
        share={v.version: traffic_share(v, routing) for v in versions},
        routing=routing,
        executors=commands.list_executors(ctx.app),
        recent=recent,
        problems=problems,
        rollouts=rollouts_of(ctx),
    )


def rollouts_of(ctx: Context) -> list[Any]:
    """The rollouts for the strip: every active one, else the latest."""
    recent = rollout_commands.list_rollouts(ctx.app, limit=5)
    active = [r for r in recent if r.state in ("running", "paused")]
    return active or recent[:1]


def rollout_actions(state: str, reason: str | None) -> list[str]:
    """The controls a rollout in ``state`` takes, in the order the strip shows them: a
    running one pauses, a paused one resumes (one paused at an approval point is approved
    instead), either is promoted at once or aborted; an ended one takes none."""
    if state == "running":
        return ["pause", "promote", "abort"]
    if state == "paused":
        awaiting = (reason or "").startswith(AWAITING_APPROVAL)
        return ["approve" if awaiting else "resume", "promote", "abort"]
    return []


@page
def workflows(ctx: Context, request: Request) -> Response:
    params = request.query_params
    statuses = [s.upper() for s in params.getlist("status") if s]
    limit = 50
    try:
        offset = max(0, int(params.get("offset") or 0))
    except ValueError:
        offset = 0
    rows = commands.list_workflows(
        ctx.app,
        status=statuses,
        version=params.get("version") or None,
        name=params.get("name") or None,
        limit=limit + 1,
        offset=offset,
    )
    keep = {k: v for k, v in params.multi_items() if k != "offset" and v}
    return render(
        request,
        "workflows.html",
        rows=rows[:limit],
        statuses=statuses,
        versions=[v.version for v in commands.list_versions(ctx.app)],
        filters=keep,
        prev_q=urlencode([*keep.items(), ("offset", max(0, offset - limit))]) if offset else None,
        next_q=urlencode([*keep.items(), ("offset", offset + limit)])
        if len(rows) > limit
        else None,
    )


@page
def workflow(ctx: Context, request: Request) -> Response:
    timeline = commands.workflow_timeline(ctx.app, request.path_params["workflow_id"])
    return render(request, "workflow.html", t=timeline, w=timeline.workflow, bars=bars(timeline))


def bars(timeline: commands.WorkflowTimeline) -> list[dict[str, Any]]:
    """Each step as a bar on the workflow's time axis: left offset and width in percent."""
    w = timeline.workflow
    times = [s.started_at for s in timeline.steps if s.started_at is not None]
    start = min([w.created_at, *times])
    ends = [s.completed_at for s in timeline.steps if s.completed_at is not None]
    end = max([w.completed_at or w.updated_at, *ends, start + 1])
    span = end - start
    out = []
    for s in timeline.steps:
        begin = s.started_at if s.started_at is not None else s.completed_at
        finish = s.completed_at if s.completed_at is not None else begin
        if begin is None or finish is None:
            out.append({"left": 0.0, "width": 0.0})
            continue
        left = 100.0 * (begin - start) / span
        out.append({"left": left, "width": max(0.6, 100.0 * (finish - begin) / span)})
    return out


@page
def patches(ctx: Context, request: Request) -> Response:
    report = commands.patch_report(ctx.code) if ctx.code is not None else None
    return render(request, "patches.html", report=report)


@page
def queues(ctx: Context, request: Request) -> Response:
    series = {s.queue: s for s in commands.queue_series(ctx.app)}
    return render(
        request,
        "queues.html",
        stats=commands.queue_stats(ctx.app, 300.0),
        series=series,
        schedules=commands.list_schedules(ctx.app),
    )


# -- actions ----------------------------------------------------------------------------------


def action(fn: Any) -> Any:
    """A form POST: run the command, then redirect back with what happened or what was wrong."""

    def bind(ctx: Context) -> Any:
        async def handle(request: Request) -> Response:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            back = form.pop("back", "") or "/"
            if not back.startswith("/") or back.startswith("//"):
                back = "/"
            try:
                done = await ctx.run(fn, ctx, request, form)
                query = {"done": done}
            except TetherError as exc:
                query = {"error": str(exc)}
            sep = "&" if "?" in back else "?"
            return RedirectResponse(
                f"{scope_root(request)}{back}{sep}{urlencode(query)}", status_code=303
            )

        return handle

    return bind


@action
def cancel(ctx: Context, request: Request, form: dict[str, str]) -> str:
    result = commands.cancel_workflow(ctx.app, request.path_params["workflow_id"])
    return f"cancelled {len(result.cancelled)} workflow(s)" if result.cancelled else "nothing open"


@action
def resume(ctx: Context, request: Request, form: dict[str, str]) -> str:
    result = commands.resume_workflow(ctx.app, request.path_params["workflow_id"])
    return f"resumed on {result.version}" if result.resumed else "it was open already"


@action
def set_routing(ctx: Context, request: Request, form: dict[str, str]) -> str:
    try:
        percent = float(form["percent"]) if form.get("percent") else None
    except ValueError:
        raise TetherError(f"percent must be a number, got {form['percent']!r}") from None
    r = commands.set_routing(
        ctx.app,
        current=form.get("current") or None,
        ramping=form.get("ramping") or None,
        percent=percent,
    )
    ramp = f", {r.percent:g} % to {r.ramping}" if r.ramping else ""
    return f"new work goes to {r.current}{ramp}"


@action
def control_rollout(ctx: Context, request: Request, form: dict[str, str]) -> str:
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise TetherError(f"no rollout action {action!r}: use one of {', '.join(ACTIONS)}")
    status = rollout_commands.control_rollout(
        ctx.app, request.path_params["rollout_id"], action, by="dashboard"
    )
    return f"sent {action} to rollout {status.rollout_id}"


@action
def retire(ctx: Context, request: Request, form: dict[str, str]) -> str:
    info = retire_version(ctx, request.path_params["version"])
    return f"retired {info.version}"


def routes(ctx: Context) -> list[BaseRoute]:
    return [
        Route("/", overview(ctx), methods=["GET"]),
        Route("/workflows", workflows(ctx), methods=["GET"]),
        Route("/workflows/{workflow_id}", workflow(ctx), methods=["GET"]),
        Route("/patches", patches(ctx), methods=["GET"]),
        Route("/queues", queues(ctx), methods=["GET"]),
        Route("/actions/workflows/{workflow_id}/cancel", cancel(ctx), methods=["POST"]),
        Route("/actions/workflows/{workflow_id}/resume", resume(ctx), methods=["POST"]),
        Route("/actions/routing", set_routing(ctx), methods=["POST"]),
        Route("/actions/versions/{version}/retire", retire(ctx), methods=["POST"]),
        Route("/actions/rollouts/{rollout_id}/{action}", control_rollout(ctx), methods=["POST"]),
    ]


_env.globals.update(rollout_actions=rollout_actions)
