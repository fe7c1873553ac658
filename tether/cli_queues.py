"""``tether queues``, ``tether routing`` and ``tether schedules``: load, routing of new work,
and cron schedules, administered over the database (nothing is launched)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from tether.runtime.errors import ConfigurationError
from tether.runtime.schedules import describe

from . import render
from .cli import State, cli, json_option, pass_state

# -- queues -----------------------------------------------------------------------------------


@click.command("queues")
@click.option(
    "--window",
    type=click.FloatRange(min=1.0),
    default=60.0,
    show_default=True,
    help="Seconds of finished work that throughput and latency are computed over.",
)
@json_option
@pass_state
def queues_cmd(state: State, window: float) -> None:
    """Per queue and version: waiting, running, oldest wait, throughput, start latency."""
    app = state.app()
    app.store.check_schema()
    state.emit(app.queue_stats(window), _queues_table, window=window)


def _ms(values: dict[str, float], key: str) -> str:
    return f"{values[key]:,.0f}" if key in values else "-"


def _queues_table(rows: list[dict[str, Any]], *, window: float) -> None:
    if not rows:
        render.message("no queued workflows (open, or finished in the window)")
        return
    table = render._table(
        "QUEUE", "VERSION", "WAITING", "RUNNING", "OLDEST WAIT", f"DONE/{window:g}s",
        "FAILED", "PER S", "START P50 MS", "P95", "P99",
    )  # fmt: skip
    for r in rows:
        finished = r["finished"]
        failed = sum(n for status, n in finished.items() if status != "SUCCESS")
        oldest = r["oldest_wait_s"]
        table.add_row(
            r["queue"],
            r["version"],
            str(r["waiting"]),
            str(r["running"]),
            "-" if oldest is None else f"{oldest:,.1f}s",
            str(finished.get("SUCCESS", 0)),
            str(failed),
            f"{r['throughput_per_s']:,.1f}",
            _ms(r["start_latency_ms"], "p50"),
            _ms(r["start_latency_ms"], "p95"),
            _ms(r["start_latency_ms"], "p99"),
        )
    render._out(table)


# -- routing ----------------------------------------------------------------------------------


@click.group("routing", invoke_without_command=True)
@json_option
@click.pass_context
def routing_group(ctx: click.Context) -> None:
    """Show (or, with `set`, change) where new queued work goes."""
    if ctx.invoked_subcommand is None:
        state = ctx.find_object(State)
        assert state is not None
        state.emit(_routing(state), _routing_text)


def _routing(state: State) -> dict[str, Any]:
    app = state.app()
    app.store.check_schema()
    r = app.routing()
    return {
        "current": r.current,
        "ramping": r.ramping,
        "percent": r.percent,
        "known_versions": sorted(app.store.versions.known()),
    }


def _routing_text(data: dict[str, Any]) -> None:
    ramp = (
        f"{data['ramping']} ({data['percent']:g}% of new workflow ids)" if data["ramping"] else "-"
    )
    render.key_values(
        [
            ("current", data["current"] or "- (no executor launched yet)"),
            ("ramping", ramp),
            ("known versions", ", ".join(data["known_versions"]) or "-"),
        ]
    )


@routing_group.command("set")
@click.option("--current", metavar="VERSION", help="The version new work goes to (default: keep).")
@click.option("--ramping", metavar="VERSION", help="A version that receives --percent of it.")
@click.option("--percent", type=float, help="Share of new workflow ids routed to --ramping.")
@json_option
@pass_state
def routing_set(
    state: State, current: str | None, ramping: str | None, percent: float | None
) -> None:
    """Route new queued work; without --ramping every new workflow goes to current."""
    app = state.app()
    app.store.check_schema()
    if current is None:
        app.set_routing(ramping=ramping, percent=percent)
    else:
        app.set_routing(current=current, ramping=ramping, percent=percent)
    state.emit(_routing(state), _routing_text)


# -- schedules --------------------------------------------------------------------------------


@click.group("schedules")
def schedules_group() -> None:
    """List, pause, resume, delete, trigger and backfill cron schedules."""


def _schedules(state: State) -> Any:
    app = state.app()
    app.store.check_schema()
    return app.schedules


@schedules_group.command("list")
@json_option
@pass_state
def schedules_list(state: State) -> None:
    """Every schedule with its cron, state, missed-tick policy and next tick."""
    state.emit([describe(r) for r in _schedules(state).list()], _schedules_table)


def _schedules_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        render.message("no schedules")
        return
    table = render._table(
        "NAME", "WORKFLOW", "CRON", "TIMEZONE", "STATE", "MISSED", "QUEUE", "LAST TICK",
        "NEXT TICK",
    )  # fmt: skip
    for r in rows:
        table.add_row(
            r["name"],
            r["workflow_name"],
            r["cron"],
            r["timezone"],
            r["state"],
            r["missed"],
            r["queue_name"] or "-",
            render.timestamp(r["last_tick"]),
            render.timestamp(r["next_tick"]),
        )
    render._out(table)


def _one(state: State, result: dict[str, Any], text: str) -> None:
    state.emit(result, lambda _: render.message(text))


@schedules_group.command("pause")
@click.argument("name")
@json_option
@pass_state
def schedules_pause(state: State, name: str) -> None:
    """Stop firing a schedule (ticks while paused follow its missed policy on resume)."""
    rec = _schedules(state).pause(name)
    _one(state, describe(rec), f"paused schedule {name}")


@schedules_group.command("resume")
@click.argument("name")
@json_option
@pass_state
def schedules_resume(state: State, name: str) -> None:
    """Fire a paused schedule again."""
    rec = _schedules(state).resume(name)
    _one(state, describe(rec), f"resumed schedule {name}")


@schedules_group.command("delete")
@click.argument("name")
@json_option
@pass_state
def schedules_delete(state: State, name: str) -> None:
    """Delete a schedule (workflows it already started are untouched)."""
    _schedules(state).delete(name)
    _one(state, {"deleted": name}, f"deleted schedule {name}")


@schedules_group.command("trigger")
@click.argument("name")
@json_option
@pass_state
def schedules_trigger(state: State, name: str) -> None:
    """Start the schedule's workflow now (a capable executor runs it)."""
    wid = _schedules(state).trigger(name)
    _one(state, {"workflow_id": wid}, f"started {wid}")


def _when(value: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ConfigurationError(
            f"not an ISO 8601 time: {value!r} (e.g. 2024-05-01T00:00:00+00:00)"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


@schedules_group.command("backfill")
@click.argument("name")
@click.option("--start", required=True, metavar="TIME", help="ISO 8601; UTC when no offset.")
@click.option("--end", required=True, metavar="TIME", help="ISO 8601; UTC when no offset.")
@json_option
@pass_state
def schedules_backfill(state: State, name: str, start: str, end: str) -> None:
    """Fire every tick in [start, end] that has not fired yet."""
    created = _schedules(state).backfill(name, _when(start), _when(end))
    _one(state, {"created": created}, f"started {len(created)} workflow(s) for {name}")


for _command in (queues_cmd, routing_group, schedules_group):
    cli.add_command(_command)
