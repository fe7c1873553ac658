"""Versions as a table, and the outcomes of tagging, retiring and moving the current one."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from tether.runtime.records import Status

from ..commands import CurrentVersion, TagResult, VersionInfo
from .base import age, message, out, table


def versions(rows: Sequence[VersionInfo]) -> None:
    if not rows:
        message("no versions yet: a version is registered when an executor launches")
        return
    statuses = [Status.ENQUEUED, Status.PENDING, Status.SUSPENDED, Status.PARKED]
    grid = table(
        "VERSION", "RELEASE", "STATE", "ROUTING", *statuses, "EXECUTORS", "ORPHANED",
        "PATCHES", "LAST SEEN",
    )  # fmt: skip
    for v in rows:
        routing = "current" if v.current else ""
        if v.ramping_percent is not None:
            routing = f"ramping {v.ramping_percent:g}%"
        orphaned = Text(f"yes ({v.orphaned})", style="red") if v.is_orphaned else Text("no")
        executors = str(v.executors)
        if v.runnable_by != v.executors:
            executors += f" (+{v.runnable_by - v.executors} compatible)"
        grid.add_row(
            v.version,
            v.release or "-",
            v.state,
            Text(routing, style="bold green") if v.current else Text(routing or "-"),
            *[str(v.open.get(s, 0)) for s in statuses],
            executors,
            orphaned,
            ", ".join(v.patches) or "-",
            age(v.last_seen),
        )
    out(grid)


def tagged(r: TagResult) -> None:
    was = f" (was {r.previous})" if r.previous and r.previous != r.release else ""
    if r.release is None:
        message(f"cleared the release tag of {r.version}{was}")
    else:
        message(f"tagged {r.version} as release {r.release}{was}")


def retired(info: VersionInfo) -> None:
    message(f"retired version {info.version} (undo: `tether versions unretire {info.version}`)")


def unretired(info: VersionInfo) -> None:
    message(f"version {info.version} is no longer retired: it is {info.state}")


def current(r: CurrentVersion, *, changed: bool) -> None:
    if r.current is None:
        message("no current version yet: it is set when the app first launches")
        return
    if changed and r.previous != r.current:
        text = f"current version: {r.current} (was {r.previous or 'unset'})"
    else:
        text = f"current version: {r.current}"
    if r.ramping:
        text += f"; ramping {r.ramping} at {r.ramping_percent:g}%"
    message(text)
    for note in r.notes:
        message(f"note: {note}")
