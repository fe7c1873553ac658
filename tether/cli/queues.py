"""``tether queues``, ``tether routing`` and ``tether schedules``: load, routing of new work,
and cron schedules, administered over the database (nothing is launched)."""

from __future__ import annotations

from typing import Any

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


@click.group("queue-limits")
def queue_limits_group() -> None:
    """Show or change queue limits at run time (declared limits in code are defaults)."""


@command(queue_limits_group, "show", click.argument("name"))
def queue_limits_show(state: State, name: str) -> None:
    """A queue's declared, run-time and effective limits, and the log of their changes."""
    state.emit(commands.queue_limits(state.app(), name), show.queue_limits)


def _limit(value: str | None) -> Any:
    """An option's value: absent (keep), "none" (no limit), or an integer."""
    if value is None:
        return _KEEP
    if value.lower() == "none":
        return None
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an integer or 'none'") from None


def _rate(value: str | None) -> Any:
    """``N/SECONDS`` (N starts per SECONDS), "none", or absent."""
    if value is None:
        return _KEEP
    if value.lower() == "none":
        return None
    try:
        n, period = value.split("/")
        return (int(n), float(period))
    except ValueError:
        raise click.BadParameter(f"{value!r}: use N/SECONDS, e.g. 10/1.5, or 'none'") from None


_KEEP = object()
_INT = "INTEGER|none"


@command(
    queue_limits_group,
    "set",
    click.argument("name"),
    click.option("--concurrency", metavar=_INT, help="Running at once across executors."),
    click.option("--worker-concurrency", metavar=_INT, help="Running at once per executor."),
    click.option("--rate-limit", metavar="N/SECONDS|none", help="At most N starts per period."),
    click.option("--partition-concurrency", metavar=_INT, help="Running at once per partition."),
    click.option(
        "--reset",
        multiple=True,
        type=click.Choice(
            ["concurrency", "worker_concurrency", "rate_limit", "partition_concurrency"]
        ),
        help="Return this limit to its declared value (repeat for several).",
    ),
)
def queue_limits_set(
    state: State,
    name: str,
    concurrency: str | None,
    worker_concurrency: str | None,
    rate_limit: str | None,
    partition_concurrency: str | None,
    reset: tuple[str, ...],
) -> None:
    """Change a queue's limits now, for every executor (stored and logged)."""
    given = {
        "concurrency": _limit(concurrency),
        "worker_concurrency": _limit(worker_concurrency),
        "rate_limit": _rate(rate_limit),
        "partition_concurrency": _limit(partition_concurrency),
    }
    limits = {k: v for k, v in given.items() if v is not _KEEP}
    result = commands.set_queue_limits(state.app(), name, reset=reset, **limits)
    state.emit(result, show.queue_limits)


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
)
def routing_set(
    state: State, current: str | None, ramping: str | None, percent: float | None
) -> None:
    """Route new queued work; without --ramping every new workflow goes to current."""
    result = commands.set_routing(state.app(), current=current, ramping=ramping, percent=percent)
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
