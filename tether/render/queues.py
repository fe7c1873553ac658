"""Queues, routing and schedules as tables and one-line outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..commands import QueueLimits, QueueStats
from ..commands.queues import RoutingState
from ..commands.schedules import (
    ScheduleBackfill,
    ScheduleDeleted,
    ScheduleInfo,
    ScheduleTriggered,
)
from .base import key_values, message, out, table, timestamp


def _ms(values: dict[str, float], key: str) -> str:
    return f"{values[key]:,.0f}" if key in values else "-"


def queues(rows: Sequence[QueueStats], *, window: float) -> None:
    if not rows:
        message("no queued workflows (open, or finished in the window)")
        return
    grid = table(
        "QUEUE", "VERSION", "WAITING", "RUNNING", "OLDEST WAIT", f"DONE/{window:g}s",
        "FAILED", "PER S", "START P50 MS", "P95", "P99",
    )  # fmt: skip
    for r in rows:
        failed = sum(n for status, n in r.finished.items() if status != "SUCCESS")
        oldest = r.oldest_wait_s
        grid.add_row(
            r.queue,
            r.version,
            str(r.waiting),
            str(r.running),
            "-" if oldest is None else f"{oldest:,.1f}s",
            str(r.finished.get("SUCCESS", 0)),
            str(failed),
            f"{r.throughput_per_s:,.1f}",
            _ms(r.start_latency_ms, "p50"),
            _ms(r.start_latency_ms, "p95"),
            _ms(r.start_latency_ms, "p99"),
        )
    out(grid)


def routing(data: RoutingState) -> None:
    ramp = f"{data.ramping} ({data.percent:g}% of new workflow ids)" if data.ramping else "-"
    key_values(
        [
            ("current", data.current or "- (no executor launched yet)"),
            ("ramping", ramp),
            ("known versions", ", ".join(data.known_versions) or "-"),
        ]
    )


def schedules(rows: Sequence[ScheduleInfo]) -> None:
    if not rows:
        message("no schedules")
        return
    grid = table(
        "NAME", "WORKFLOW", "CRON", "TIMEZONE", "STATE", "MISSED", "QUEUE", "LAST TICK",
        "NEXT TICK",
    )  # fmt: skip
    for info in rows:
        r = info.schedule
        grid.add_row(
            r.name,
            r.workflow_name,
            r.cron,
            r.timezone,
            r.state,
            r.missed,
            r.queue_name or "-",
            timestamp(r.last_tick),
            timestamp(info.next_tick),
        )
    out(grid)


def schedule_paused(r: ScheduleInfo) -> None:
    message(f"paused schedule {r.name}")


def schedule_resumed(r: ScheduleInfo) -> None:
    message(f"resumed schedule {r.name}")


def schedule_deleted(r: ScheduleDeleted) -> None:
    message(f"deleted schedule {r.deleted}")


def schedule_triggered(r: ScheduleTriggered) -> None:
    message(f"started {r.workflow_id}")


def schedule_backfilled(r: ScheduleBackfill, *, name: str) -> None:
    message(f"started {len(r.created)} workflow(s) for {name}")


def queue_limits(limits: QueueLimits) -> None:
    def show(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, list):
            return f"{value[0]}/{value[1]:g}s"
        return str(value)

    grid = table("LIMIT", "DECLARED", "OVERRIDE", "EFFECTIVE")
    for field, effective in limits.effective.items():
        override = show(limits.overrides[field]) if field in limits.overrides else ""
        grid.add_row(field, show(limits.declared.get(field)), override, show(effective))
    out(grid)
    for c in limits.changes:
        message(f"{timestamp(c['changed_at'])} by {c['changed_by']}: {c['before']} -> {c['after']}")
