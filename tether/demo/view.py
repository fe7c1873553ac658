"""The live view: traffic split, workflows per version and status, kills, recoveries, the
rollout's step and the latest events (rendering only; the scenario gathers the state)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .journal import Entry
from .scenario import STEPS, State

_STYLE = {
    "kill": "bold red",
    "recovery": "green",
    "rollout": "cyan",
    "replay": "magenta",
    "drain": "yellow",
    "deploy": "blue",
}
_STATUSES = ("PENDING", "SUCCESS", "ERROR")


def render(state: State, entries: list[Entry], tail: int = 9) -> RenderableType:
    head = Text.assemble(f"{state.elapsed:4.1f}s  ", (state.phase, "bold"))
    body = Group(
        head, _rollout(state), Text(""), _versions(state), Text(""), _events(entries[-tail:])
    )
    title = f"tether demo — {state.mode} — app {state.app_name}"
    return Panel(body, title=title, title_align="left")


def _rollout(state: State) -> Text:
    r = state.rollout
    out = Text("rollout ")
    if r is None:
        out.append("not started", style="dim")
    else:
        for p in STEPS:
            reached = r.percent >= p
            out.append(f" {p}% ", style="reverse cyan" if reached else "dim")
            out.append("→" if p != STEPS[-1] else "")
        out.append(f"  {r.state}", style="bold")
        if r.reason:
            out.append(f" — {r.reason}", style="dim")
    split = " / ".join(f"{rev} {pct}%" for rev, pct in sorted(state.traffic.items()))
    tags = ", ".join(f"{rev}={tag}" for rev, tag in sorted(state.tags.items()))
    out.append(f"\ntraffic  {split or '-'}   tags {tags or '-'}")
    out.append(
        f"\nrequests {state.sent} started ({state.retried} retried) · approvals "
        f"{state.approvals} sent, {state.pending_approvals} due · kills {len(state.killed)} · "
        f"recoveries {len(state.recovered)}"
    )
    return out


def _versions(state: State) -> Table:
    table = Table(expand=False, pad_edge=False, box=None)
    table.add_column("revision")
    table.add_column("processes")
    for status in _STATUSES:
        table.add_column(status.lower(), justify="right")
    versions = sorted({v for v, _ in state.counts} | set(state.instances))
    for v in versions:
        procs = ", ".join(
            i["executor_id"] + ("" if i["healthy"] else "?") for i in state.instances.get(v, [])
        )
        if not procs:
            procs = "[dim]retired[/dim]"
        killed = [k for k in state.killed if k.startswith(v + "-")]
        if killed:
            procs += ", " + ", ".join(f"[red]{k} killed[/red]" for k in killed)
        counts = [str(state.counts.get((v, s), 0)) for s in _STATUSES]
        table.add_row(v, procs, *counts)
    return table


def _events(entries: list[Entry]) -> Text:
    out = Text()
    for e in entries:
        out.append(f"{e.at:5.1f}s ", style="dim")
        out.append(f"{e.text}\n", style=_STYLE.get(e.kind, ""))
    return out
