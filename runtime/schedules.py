"""Cron schedules: exactly one workflow per tick, however many executors run the scheduler.

Each tick's workflow id is ``<schedule>@<tick in UTC>``, inserted idempotently, so executors
that race on a tick create one workflow between them. Every executor runs a scheduler loop;
the row's ``last_tick`` (only ever moved forward) says which ticks are handled. Ticks missed
while no executor ran follow the schedule's policy: ``skip`` (default) fires none that are
more than ``SKIP_GRACE`` seconds old, ``catch_up`` fires every one of them (at most
``CATCH_UP_LIMIT`` per round). A tick goes to the app's current version when its code
declares the schedule's workflow, else to the newest live version that does
(``placement.version_for``): a canary's new schedule never fires on code that lacks it.

Cron expressions have 5 fields (minute first) or 6 (seconds first), parsed by croniter in
the schedule's IANA timezone (daylight-saving gaps and repeats handled there). The workflow
receives the tick as a timezone-aware datetime.
"""

from __future__ import annotations

import builtins
import datetime as dt
import logging
import threading
import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from croniter import croniter

from . import observe, placement
from .clock import now_ms
from .engine import encode_inputs
from .errors import ConfigurationError
from .records import Status
from .registry import _check_name
from .store import Store
from .store.queues import Enqueue, sqlalchemy_runner
from .store.schedules import ScheduleRecord

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger("tether.schedules")

Missed = Literal["skip", "catch_up"]
SKIP_GRACE = 10.0  # seconds: with "skip", a tick older than this when first seen is skipped
CATCH_UP_LIMIT = 1000  # ticks fired per schedule per round when catching up
BACKFILL_LIMIT = 100_000


# -- cron arithmetic (pure) -------------------------------------------------------------------


def _zone(timezone: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"unknown timezone {timezone!r}: use an IANA name such as 'UTC' or 'Europe/Paris'"
        ) from None


def _seconds_first(cron: str) -> bool:
    return len(cron.split()) == 6


def validate(cron: str, timezone: str, missed: str = "skip") -> None:
    _zone(timezone)
    fields = len(cron.split())
    if fields not in (5, 6) or not croniter.is_valid(cron, second_at_beginning=fields == 6):
        raise ConfigurationError(
            f"invalid cron expression {cron!r}: use 5 fields (minute hour day month weekday, "
            "e.g. '*/5 * * * *') or 6 with seconds first (e.g. '*/10 * * * * *')"
        )
    if missed not in ("skip", "catch_up"):
        raise ConfigurationError(f"missed must be 'skip' or 'catch_up', got {missed!r}")


def ticks(cron: str, timezone: str, after: int, until: int, limit: int) -> list[int]:
    """Tick times (epoch ms) in ``(after, until]``, at most ``limit``, oldest first."""
    zone = _zone(timezone)
    start = dt.datetime.fromtimestamp(after / 1000, tz=zone)
    it = croniter(cron, start, second_at_beginning=_seconds_first(cron))
    out: list[int] = []
    while len(out) < limit:
        t = int(it.get_next(dt.datetime).timestamp() * 1000)
        if t > until:
            break
        if t > after:
            out.append(t)
    return out


def next_tick(cron: str, timezone: str, after: int) -> int:
    zone = _zone(timezone)
    start = dt.datetime.fromtimestamp(after / 1000, tz=zone)
    it = croniter(cron, start, second_at_beginning=_seconds_first(cron))
    return int(it.get_next(dt.datetime).timestamp() * 1000)


def prev_tick(cron: str, timezone: str, at: int) -> int:
    """The latest tick at or before ``at`` (epoch ms)."""
    zone = _zone(timezone)
    start = dt.datetime.fromtimestamp((at + 1) / 1000, tz=zone)
    it = croniter(cron, start, second_at_beginning=_seconds_first(cron))
    return int(it.get_prev(dt.datetime).timestamp() * 1000)


def due(
    cron: str, timezone: str, last_tick: int, now: int, missed: str
) -> tuple[list[int], int | None]:
    """(ticks to fire now, the new last tick or None) for a schedule at ``now``."""
    if missed == "catch_up":
        found = ticks(cron, timezone, last_tick, now, CATCH_UP_LIMIT)
        return found, (found[-1] if found else None)
    latest = prev_tick(cron, timezone, now)
    if latest <= last_tick:
        return [], None
    lo = max(last_tick, now - int(SKIP_GRACE * 1000))
    return ticks(cron, timezone, lo, now, CATCH_UP_LIMIT), latest


def workflow_id_for(schedule: str, tick: int) -> str:
    when = dt.datetime.fromtimestamp(tick / 1000, tz=dt.UTC)
    return f"{schedule}@{when:%Y-%m-%dT%H:%M:%S}Z"


def tick_datetime(tick: int, timezone: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(tick / 1000, tz=_zone(timezone))


# -- definitions in code --------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleSpec:
    """An ``@app.scheduled`` declaration, written to the database at launch."""

    name: str
    workflow_name: str
    cron: str
    timezone: str = "UTC"
    missed: Missed = "skip"
    queue: str | None = None

    def __post_init__(self) -> None:
        _check_name(self.name, "schedule")
        validate(self.cron, self.timezone, self.missed)


# -- firing and management --------------------------------------------------------------------


class Schedules:
    """Create, list, pause, resume, delete, trigger and backfill an app's schedules.

    Works with or without a launched engine (the CLI uses it without): a fired workflow is
    then left to a capable executor (PENDING, unheld) or to its queue.
    """

    def __init__(self, store: Store, engine: Callable[[], Engine | None]) -> None:
        self.store = store
        self.rows = store.schedules
        self.queues = store.queues
        self._engine = engine
        self.on_enqueue: Callable[[str], None] | None = None  # wakes a local dequeuer
        # Queues a schedule may use: declared here or by any version that launched.
        self.known_queues: Callable[[], set[str]] = lambda: set(store.queue_config.all())

    # -- management ---------------------------------------------------------------------------

    def create(
        self,
        name: str,
        workflow: str,
        cron: str,
        *,
        timezone: str = "UTC",
        missed: Missed = "skip",
        queue: str | None = None,
        replace: bool = False,
    ) -> ScheduleRecord:
        """Create a runtime schedule; its first tick is the next one after now."""
        spec = ScheduleSpec(name, workflow, cron, timezone, missed, queue)
        self.check_queue(name, queue)
        created = self._put(spec, source="runtime", replace=replace)
        if not created and not replace:
            raise ConfigurationError(
                f"schedule {name!r} already exists: delete it first, or pass replace=True"
            )
        return self.get(name)

    def check_queue(self, name: str, queue: str | None) -> None:
        """Refuse a schedule on a queue no version declared: its ticks would wait forever."""
        if queue is None or queue in self.known_queues():
            return
        raise ConfigurationError(
            f"schedule {name!r} names queue {queue!r}, which no version of app "
            f"{self.store.app_name!r} declares: declare it with app.queue({queue!r}) in the "
            "code that runs the schedule's workflow (and launch it once), or leave queue unset"
        )

    def _put(self, spec: ScheduleSpec, *, source: str, replace: bool) -> bool:
        return self.rows.put(
            spec.name,
            workflow_name=spec.workflow_name,
            cron=spec.cron,
            timezone=spec.timezone,
            missed=spec.missed,
            queue_name=spec.queue,
            source=source,
            replace=replace,
        )

    def sync_code(self, specs: list[ScheduleSpec], *, prune: bool, version: str = "") -> None:
        """Write ``@app.scheduled`` definitions; ``prune`` drops code schedules now gone,
        but never one whose workflow a version newer than ``version`` declares (a canary's
        new schedule survives a restart of the current version)."""
        for spec in specs:
            self._put(spec, source="code", replace=True)
        if prune:
            keep = {s.name for s in specs}
            newer = placement.newer_declared(placement.candidates(self.store), version)
            keep |= {r.name for r in self.rows.list() if r.workflow_name in newer}
            gone = self.rows.remove_code_schedules_except(keep)
            if gone:
                log.info("removed schedules no longer declared in code: %s", gone)

    def get(self, name: str) -> ScheduleRecord:
        rec = self.rows.get(name)
        if rec is None:
            raise ConfigurationError(
                f"no schedule {name!r} in app {self.store.app_name!r}; "
                "list them with `tether schedules list`"
            )
        return rec

    def list(self) -> list[ScheduleRecord]:
        return self.rows.list()

    def next_ticks(self, name: str, n: int = 1) -> builtins.list[dt.datetime]:
        rec = self.get(name)
        found = ticks(rec.cron, rec.timezone, now_ms(), 2**62, n)
        return [tick_datetime(t, rec.timezone) for t in found]

    def pause(self, name: str) -> ScheduleRecord:
        self.get(name)
        self.rows.set_state(name, "PAUSED")
        return self.get(name)

    def resume(self, name: str) -> ScheduleRecord:
        """Reactivate; ticks missed while paused follow the schedule's missed policy."""
        self.get(name)
        self.rows.set_state(name, "ACTIVE")
        return self.get(name)

    def delete(self, name: str) -> None:
        if not self.rows.remove(name):
            self.get(name)  # raises the not-found explanation

    def trigger(self, name: str) -> str:
        """Start the schedule's workflow now, outside its ticks; returns its workflow id."""
        rec = self.get(name)
        wid = f"{name}@manual-{uuid.uuid4().hex[:12]}"
        self.fire(rec, now_ms(), wid)
        return wid

    def backfill(self, name: str, start: dt.datetime, end: dt.datetime) -> builtins.list[str]:
        """Fire every tick in ``[start, end]`` not fired yet; returns the ids created."""
        rec = self.get(name)
        if start.tzinfo is None or end.tzinfo is None:
            raise ConfigurationError("backfill needs timezone-aware start and end datetimes")
        lo, hi = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        if hi < lo:
            raise ConfigurationError("backfill: end is before start")
        created = []
        for t in ticks(rec.cron, rec.timezone, lo - 1, hi, BACKFILL_LIMIT):
            wid = workflow_id_for(name, t)
            if self.fire(rec, t, wid):
                created.append(wid)
        return created

    # -- firing -------------------------------------------------------------------------------

    def fire(self, rec: ScheduleRecord, tick: int, wid: str) -> bool:
        """Create the workflow for one tick (idempotent on ``wid``); True if created here."""
        version = self.target_version(rec)
        if version is None:
            raise ConfigurationError(
                f"schedule {rec.name!r} cannot fire: app {self.store.app_name!r} has no current "
                "version yet (launch an executor once, or `tether routing set --current`)"
            )
        inputs = encode_inputs(wid, rec.workflow_name, (tick_datetime(tick, rec.timezone),), {})
        if rec.queue_name is not None:
            e = Enqueue(wid, rec.workflow_name, inputs, version, rec.queue_name)
            outcome = self.store.db.run_write(
                lambda conn: self.queues.enqueue(sqlalchemy_runner(conn), e)
            )
            if outcome.created and self.on_enqueue is not None:
                self.on_enqueue(rec.queue_name)
            return outcome.created
        engine = self._engine()
        mine = (
            engine is not None
            and not engine.draining
            and version in engine.runnable()
            and rec.workflow_name in engine.registry.workflows
        )
        holder = engine.executor_id if mine and engine is not None else None
        created = self.store.db.run_write(
            lambda conn: self.store.workflows.insert(
                conn,
                workflow_id=wid,
                name=rec.workflow_name,
                inputs_json=inputs,
                version=version,
                status=Status.PENDING,
                executor_id=holder,
            )
        )
        if created and holder is not None and engine is not None:
            engine.run_claimed(wid, 0, observe.START)
        return bool(created)

    def target_version(self, rec: ScheduleRecord) -> str | None:
        """The version whose code declares the schedule's workflow: current if it does, else
        the newest live one that does (a canary's new schedule); refused when none does."""
        current = self.store.versions.routing().current
        if current is None:
            return None
        found = placement.candidates(self.store)
        version = placement.version_for(rec.workflow_name, current, found)
        if version is None:
            known = sorted(c.version for c in found if not c.retired)
            raise ConfigurationError(
                f"schedule {rec.name!r} cannot fire: no version of app {self.store.app_name!r} "
                f"declares workflow {rec.workflow_name!r} (versions: {', '.join(known)}); "
                "launch a version whose code has it, or delete the schedule "
                f"(`tether schedules delete {rec.name}`)"
            )
        return version


class Scheduler:
    """The loop every executor runs: fire due ticks, then sleep until the next one."""

    def __init__(self, schedules: Schedules, *, refresh: float = 1.0) -> None:
        self.schedules = schedules
        self.refresh = refresh
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tether-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = self.refresh
            try:
                wait = self.round()
            except Exception:  # noqa: BLE001 - keep scheduling through database blips
                log.exception("scheduler round failed; retrying")
            self._stop.wait(max(0.005, min(wait, self.refresh)))

    def round(self) -> float:
        """Fire what is due; returns the seconds until the next tick of any schedule."""
        now = now_ms()
        soonest = now + int(self.refresh * 1000)
        for rec in self.schedules.rows.list(active_only=True):
            try:
                last = rec.last_tick if rec.last_tick is not None else now
                fire, new_last = due(rec.cron, rec.timezone, last, now, rec.missed)
                for t in fire:
                    self.schedules.fire(rec, t, workflow_id_for(rec.name, t))
                if new_last is not None:
                    self.schedules.rows.advance(rec.name, new_last)
                soonest = min(soonest, next_tick(rec.cron, rec.timezone, max(now, last)))
            except Exception:  # noqa: BLE001 - one bad schedule must not stop the others
                log.exception("schedule %r failed to fire", rec.name)
        return max(0.0, (soonest - now_ms()) / 1000)


def describe(rec: ScheduleRecord) -> dict[str, Any]:
    """A schedule as a dict, with its next tick (epoch ms) when active."""
    out = rec.to_dict()
    out["next_tick"] = (
        next_tick(rec.cron, rec.timezone, max(now_ms(), rec.last_tick or 0))
        if rec.state == "ACTIVE"
        else None
    )
    return out
