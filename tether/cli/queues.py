"""``tether queues``, ``tether routing`` and ``tether schedules``: load, routing of new work,
and cron schedules, administered over the database (nothing is launched)."""

from __future__ import annotations

import click

from .. import commands
from ..render import queues as show
from .base import State, command, json_option, on_one


@command(
    None,
    "queues",
    click.option(
        "--window",
        type=click.FloatRange(min=1.0),
        default=60.0,
        show_default=True,
        help="Seconds of finished work that throughput and latency are computed over.",
    ),
)
def queues_cmd(state: State, window: float) -> None:
    """Per queue and version: waiting, running, oldest wait, throughput, start latency."""
    state.emit(commands.queue_stats(state.app(), window), show.queues, window=window)


@click.group("routing", invoke_without_command=True)
@json_option
@click.pass_context
def routing_group(ctx: click.Context) -> None:
    """Show (or, with `set`, change) where new queued work goes."""
    if ctx.invoked_subcommand is None:
        state = ctx.find_object(State)
        assert state is not None
        state.emit(commands.show_routing(state.app()), show.routing)


@command(
    routing_group,
    "set",
    click.option(
        "--current", metavar="VERSION", help="The version new work goes to (default: keep)."
    ),
    click.option("--ramping", metavar="VERSION", help="A version that receives --percent of it."),
    click.option("--percent", type=float, help="Share of new workflow ids routed to --ramping."),
    click.option("--force", is_flag=True, help="Even to a version no live executor runs."),
)
def routing_set(
    state: State, current: str | None, ramping: str | None, percent: float | None, force: bool
) -> None:
    """Route new queued work; without --ramping every new workflow goes to current.
    VERSION is a version name or its release tag."""
    result = commands.set_routing(
        state.app(), current=current, ramping=ramping, percent=percent, force=force
    )
    state.emit(result, show.routing)


@click.group("schedules")
def schedules_group() -> None:
    """List, pause, resume, delete, trigger and backfill cron schedules."""


@command(schedules_group, "list")
def schedules_list(state: State) -> None:
    """Every schedule with its cron, state, missed-tick policy and next tick."""
    state.emit(commands.list_schedules(state.app()), show.schedules)


for _verb, _run, _text, _doc in (
    (
        "pause",
        commands.pause_schedule,
        show.schedule_paused,
        "Stop firing a schedule (ticks while paused follow its missed policy on resume).",
    ),
    ("resume", commands.resume_schedule, show.schedule_resumed, "Fire a paused schedule again."),
    (
        "delete",
        commands.delete_schedule,
        show.schedule_deleted,
        "Delete a schedule (workflows it already started are untouched).",
    ),
    (
        "trigger",
        commands.trigger_schedule,
        show.schedule_triggered,
        "Start the schedule's workflow now (a capable executor runs it).",
    ),
):
    on_one(schedules_group, _verb, "name", _run, _text, _doc)


@command(
    schedules_group,
    "backfill",
    click.argument("name"),
    click.option("--start", required=True, metavar="TIME", help="ISO 8601; UTC when no offset."),
    click.option("--end", required=True, metavar="TIME", help="ISO 8601; UTC when no offset."),
)
def schedules_backfill(state: State, name: str, start: str, end: str) -> None:
    """Fire every tick in [start, end] that has not fired yet."""
    result = commands.backfill_schedule(state.app(), name, start, end)
    state.emit(result, show.schedule_backfilled, name=name)
