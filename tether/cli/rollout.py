"""``tether rollout start|status|pause|resume|approve|promote|abort`` and ``tether revisions``.

A platform is chosen with options: ``--platform cloudrun --project P --region R --service S
[--endpoint URL]``, ``--platform local ...`` or ``--platform memory --path FILE`` (tests).
The controller runs in the app's executors; these commands only write and read rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .. import commands
from ..commands import rollouts as cmd
from ..commands.rollouts import RolloutStatus
from ..render import base as render
from .base import State, json_option, pass_state

F = TypeVar("F", bound=Callable[..., Any])
FINAL = ("promoted", "rolled_back", "failed", "refused")


def platform_options(fn: F) -> F:
    options = [
        click.option(
            "--platform",
            "kind",
            type=click.Choice(["cloudrun", "local", "memory"]),
            default="cloudrun",
            show_default=True,
            envvar="TETHER_PLATFORM",
            help="Where revisions run.",
        ),
        click.option("--project", envvar="GOOGLE_CLOUD_PROJECT", help="Cloud Run project."),
        click.option("--region", envvar="TETHER_REGION", help="Cloud Run region."),
        click.option("--service", envvar="TETHER_SERVICE", help="The service to roll out."),
        click.option(
            "--endpoint",
            envvar="TETHER_CLOUD_RUN_ENDPOINT",
            help="Admin API endpoint (a local stand-in), e.g. http://127.0.0.1:8089.",
        ),
        click.option("--path", help="State file of the memory platform."),
        click.option(
            "--platform-option",
            "platform_options",
            multiple=True,
            metavar="KEY=VALUE",
            help="Extra platform option (repeatable).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _platform(options: dict[str, Any]) -> Any:
    return cmd.platform_from_options(
        options.pop("kind"),
        project=options.pop("project"),
        region=options.pop("region"),
        service=options.pop("service"),
        endpoint=options.pop("endpoint"),
        path=options.pop("path"),
        options=options.pop("platform_options"),
    )


def _ints(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated percents, got {text!r}") from None


@click.group("rollout")
def rollout() -> None:
    """Shift traffic and routing to a candidate revision in steps, gated on health."""


@rollout.command("start")
@click.argument("candidate", required=False)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(exists=True, dir_okay=False),
    help="A TOML plan ([rollout] and optional [platform]) instead of options.",
)
@click.option("--steps", help="Percents, ending at 100  [default: 10,50,100].")
@click.option("--bake", help="Time at each step, e.g. 90s, 5m  [default: 5m].")
@click.option("--approve-at", help="Steps that wait for `tether rollout approve`.")
@click.option("--max-failure-rate", type=click.FloatRange(0, 1), help="Gate: failure rate.")
@click.option("--min-sample", type=click.IntRange(min=0), help="Gate: finished workflows needed.")
@click.option("--rollout-id", help="The rollout's id (default: rollout-SERVICE-CANDIDATE).")
@click.option(
    "--drain-interval",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds between checks of the old revision's open work.",
)
@click.option("--delete-retired", is_flag=True, help="Delete drained revisions, not only untag.")
@platform_options
@json_option
@pass_state
def rollout_start(
    state: State,
    /,
    candidate: str | None,
    plan_file: str | None,
    steps: str | None,
    bake: str | None,
    approve_at: str | None,
    max_failure_rate: float | None,
    min_sample: int | None,
    rollout_id: str | None,
    drain_interval: float,
    delete_retired: bool,
    **platform: Any,
) -> None:
    """Start rolling CANDIDATE (a revision name) out; the app's executors run it."""
    gates: dict[str, Any] = {}
    if max_failure_rate is not None:
        gates["max_failure_rate"] = max_failure_rate
    if min_sample is not None:
        gates["min_sample"] = min_sample
    chosen = (
        None
        if plan_file and not platform.get("service") and platform["kind"] != "memory"
        else _platform(platform)
    )
    status = cmd.start_rollout(
        state.app(),
        chosen,
        candidate,
        plan_file=plan_file,
        steps=_ints(steps) if steps else None,
        bake=bake,
        approve_at=_ints(approve_at) if approve_at is not None else None,
        gates=gates or None,
        rollout_id=rollout_id,
        drain_interval=drain_interval,
        delete_retired=delete_retired,
    )
    state.emit(status, _status_view)


@rollout.command("status")
@click.argument("rollout_id", required=False)
@click.option("--watch", is_flag=True, help="Refresh until the rollout ends (Ctrl-C to stop).")
@click.option("--interval", type=float, default=1.0, show_default=True)
@click.option("--service", help="Only rollouts of this service (the list).")
@json_option
@pass_state
def rollout_status(
    state: State, rollout_id: str | None, watch: bool, interval: float, service: str | None
) -> None:
    """One rollout with its decisions, or the recent rollouts."""
    app = state.app()
    if rollout_id is None:
        state.emit(cmd.list_rollouts(app, service=service), _list_view)
        return
    if not watch or state.as_json:
        state.emit(cmd.rollout_status(app, rollout_id), _status_view)
        return
    with Live(
        _status_renderable(cmd.rollout_status(app, rollout_id)),
        console=render.console(),
        auto_refresh=False,
    ) as live:
        while True:
            status = cmd.rollout_status(app, rollout_id)
            live.update(_status_renderable(status), refresh=True)
            if status.state in FINAL:
                return
            time.sleep(interval)


def _control(action: str, help_text: str) -> None:
    @rollout.command(action, help=help_text)
    @click.argument("rollout_id")
    @click.option("--by", help="Who asks (recorded with the decision).")
    @json_option
    @pass_state
    def command(state: State, rollout_id: str, by: str | None) -> None:
        status = cmd.control_rollout(state.app(), rollout_id, action, by=by)
        if state.as_json:
            click.echo(commands.to_json(status))
        else:
            render.message(
                f"{action} sent to rollout {rollout_id} ({status.state} at {status.percent}%)"
            )


for _action, _help in (
    ("pause", "Hold the rollout where it is (traffic stays as it is)."),
    ("resume", "Continue a paused rollout."),
    ("approve", "Let a rollout waiting for approval take its next step."),
    ("promote", "Skip the remaining steps: the candidate takes all traffic now."),
    ("abort", "Roll back: traffic and routing back to the baseline."),
):
    _control(_action, _help)


@click.command("revisions")
@platform_options
@json_option
@pass_state
def revisions_cmd(state: State, /, **platform: Any) -> None:
    """Revisions side by side: traffic, tags, versions, open work, and their drain state."""
    state.emit(cmd.revisions(state.app(), _platform(platform)), _revisions_view)


# -- rendering --------------------------------------------------------------------------------


def _status_renderable(s: RolloutStatus) -> Group:
    steps = "  ".join(
        f"[{p}%]" if i == s.stage and s.state in ("running", "paused") else f"{p}%"
        for i, p in enumerate(s.steps)
    )
    head = Table.grid(padding=(0, 2))
    for key, value in (
        ("rollout", s.rollout_id),
        ("service", s.service),
        ("baseline", s.baseline or "-"),
        ("candidate", s.candidate),
        ("state", s.state),
        ("traffic", f"{s.percent}% to the candidate"),
        ("steps", steps),
        ("reason", s.reason or "-"),
        ("controller", s.controller_status or "-"),
        ("drain", s.drain_status or "-"),
        ("updated", render.age(s.updated_at)),
    ):
        head.add_row(Text(key, style="bold"), Text(str(value)))
    events = render.table("WHEN", "DECISION", "DETAIL")
    for e in s.events[-15:]:
        detail = e.detail.get("reason") or e.detail.get("note") or e.detail
        events.add_row(render.timestamp(e.at), e.kind, render.short(detail, 100))
    return Group(head, events)


def _status_view(s: RolloutStatus) -> None:
    render.out(_status_renderable(s))


def _list_view(rows: Sequence[RolloutStatus]) -> None:
    if not rows:
        render.message("no rollouts")
        return
    table = render.table(
        "ID", "SERVICE", "BASELINE", "CANDIDATE", "STATE", "AT", "REASON", "UPDATED"
    )
    for r in rows:
        table.add_row(
            r.rollout_id,
            r.service,
            r.baseline or "-",
            r.candidate,
            r.state,
            f"{r.percent}%",
            render.short(r.reason or "-", 50),
            render.age(r.updated_at),
        )
    render.out(table)


def _revisions_view(rows: Sequence[cmd.RevisionRow]) -> None:
    if not rows:
        render.message("the service has no revisions")
        return
    table = render.table(
        "REVISION", "VERSION", "READY", "TRAFFIC", "TAG", "OPEN WORK", "EXECUTORS", "STATE", "WHY"
    )
    for r in rows:
        version = (r.version or "-") + (" (current)" if r.current else "")
        table.add_row(
            r.name,
            version,
            "yes" if r.ready else "no",
            f"{r.percent}%",
            r.tag or "-",
            str(r.open_work),
            str(r.live_executors),
            r.state,
            r.reason,
        )
    render.out(table)
