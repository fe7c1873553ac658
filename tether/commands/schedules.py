"""Cron schedules: list, pause, resume, delete, trigger and backfill, over the database."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from tether.runtime.errors import ConfigurationError
from tether.runtime.schedules import describe
from tether.runtime.store.schedules import ScheduleRecord

from ..app import Tether
from .records import Record


@dataclasses.dataclass(frozen=True)
class ScheduleInfo(Record):
    """A schedule and, when it is active, its next tick (epoch ms)."""

    schedule: ScheduleRecord
    next_tick: int | None

    @classmethod
    def of(cls, rec: ScheduleRecord) -> ScheduleInfo:
        return cls(rec, describe(rec)["next_tick"])

    @property
    def name(self) -> str:
        return self.schedule.name

    def to_dict(self) -> dict[str, Any]:
        return {**self.schedule.to_dict(), "next_tick": self.next_tick}


@dataclasses.dataclass(frozen=True)
class ScheduleDeleted(Record):
    deleted: str


@dataclasses.dataclass(frozen=True)
class ScheduleTriggered(Record):
    workflow_id: str


@dataclasses.dataclass(frozen=True)
class ScheduleBackfill(Record):
    created: list[str]  # workflow ids of the ticks fired now (those fired before are skipped)


def list_schedules(app: Tether) -> list[ScheduleInfo]:
    """Every schedule with its cron, state, missed-tick policy and next tick."""
    return [ScheduleInfo.of(r) for r in app.schedules.list()]


def pause_schedule(app: Tether, name: str) -> ScheduleInfo:
    """Stop firing a schedule (ticks while paused follow its missed policy on resume)."""
    return ScheduleInfo.of(app.schedules.pause(name))


def resume_schedule(app: Tether, name: str) -> ScheduleInfo:
    """Fire a paused schedule again."""
    return ScheduleInfo.of(app.schedules.resume(name))


def delete_schedule(app: Tether, name: str) -> ScheduleDeleted:
    """Delete a schedule (workflows it already started are untouched)."""
    app.schedules.delete(name)
    return ScheduleDeleted(name)


def trigger_schedule(app: Tether, name: str) -> ScheduleTriggered:
    """Start the schedule's workflow now (a capable executor runs it)."""
    return ScheduleTriggered(app.schedules.trigger(name))


def backfill_schedule(
    app: Tether, name: str, start: str | dt.datetime, end: str | dt.datetime
) -> ScheduleBackfill:
    """Fire every tick in [start, end] that has not fired yet; times without an offset (ISO
    8601 text or naive datetimes) are UTC."""
    return ScheduleBackfill(app.schedules.backfill(name, _when(start), _when(end)))


def _when(value: str | dt.datetime) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ConfigurationError(
                f"not an ISO 8601 time: {value!r} (e.g. 2024-05-01T00:00:00+00:00)"
            ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
