"""Pure decisions behind queues and schedules: routing split, cron ticks, limits."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from tether.runtime.errors import ConfigurationError
from tether.runtime.queues import QueueSpec
from tether.runtime.routing import Routing, route
from tether.runtime.schedules import (
    SKIP_GRACE,
    ScheduleSpec,
    due,
    next_tick,
    prev_tick,
    ticks,
    validate,
    workflow_id_for,
)
from tether.runtime.store.queue_stats import percentiles


@pytest.mark.parametrize("percent", [0.0, 1.0, 10.0, 33.3, 50.0, 90.0, 100.0])
def test_routing_split_matches_the_percentage_and_is_stable(percent: float) -> None:
    routing = Routing(current="v1", ramping="v2", percent=percent)
    ids = [f"order-{i}" for i in range(10_000)]
    first = [route(wid, routing) for wid in ids]
    share = 100 * first.count("v2") / len(ids)
    assert abs(share - percent) <= 2.0
    assert [route(wid, routing) for wid in ids] == first  # same id, same decision
    # Raising the percentage only moves ids from current to ramping, never back.
    more = Routing(current="v1", ramping="v2", percent=min(100.0, percent + 10))
    assert all(route(w, more) == "v2" for w, v in zip(ids, first, strict=True) if v == "v2")


def test_routing_without_a_ramp_goes_to_current() -> None:
    assert route("x", Routing(current="v1")) == "v1"
    assert route("x", Routing(current=None)) is None


def test_queue_spec_validation() -> None:
    QueueSpec("agents", concurrency=50, worker_concurrency=4, rate_limit=(100, 60.0))
    for bad, message in (
        ({"concurrency": 0}, "concurrency must be a positive integer or None, got 0"),
        ({"worker_concurrency": -1}, "worker_concurrency must be a positive integer"),
        ({"partition_concurrency": 1.5}, r"partition_concurrency .* got 1\.5"),
        ({"rate_limit": (0, 1.0)}, r"rate_limit must be .* got \(0, 1\.0\)"),
        ({"rate_limit": (5, 0)}, r"rate_limit must be .* got \(5, 0\)"),
        ({"on_duplicate": "ignore"}, "on_duplicate must be 'reject' or 'return_existing'"),
    ):
        with pytest.raises(ConfigurationError, match=message):
            QueueSpec("q", **bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="queue name"):
        QueueSpec("bad name")


def _ms(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp() * 1000)


def test_cron_ticks_in_a_timezone_across_a_dst_gap() -> None:
    # 02:30 does not exist in Paris on 2024-03-31: that day's tick is skipped by croniter.
    found = ticks("30 2 * * *", "Europe/Paris", _ms(2024, 3, 29), _ms(2024, 4, 2), 10)
    local = [dt.datetime.fromtimestamp(t / 1000, dt.UTC).isoformat() for t in found]
    assert local[0] == "2024-03-29T01:30:00+00:00"  # CET = UTC+1
    assert "2024-04-01T00:30:00+00:00" in local  # CEST = UTC+2
    assert workflow_id_for("nightly", found[0]) == "nightly@2024-03-29T01:30:00Z"


def test_six_fields_mean_seconds_first() -> None:
    found = ticks("*/15 * * * * *", "UTC", _ms(2024, 1, 1), _ms(2024, 1, 1, 0, 1), 100)
    assert [(t - _ms(2024, 1, 1)) // 1000 for t in found] == [15, 30, 45, 60]


def test_missed_ticks_skip_or_catch_up() -> None:
    now = _ms(2024, 1, 1, 1, 0)
    hour_ago = now - 3600_000
    fire, last = due("* * * * *", "UTC", hour_ago, now, "catch_up")
    assert len(fire) == 60 and last == now
    fire, last = due("* * * * * *", "UTC", hour_ago, now, "skip")
    assert fire and all(now - t <= SKIP_GRACE * 1000 for t in fire) and last == now
    assert due("0 * * * *", "UTC", now, now + 1000, "skip") == ([], None)


def test_schedule_spec_validation() -> None:
    ScheduleSpec("s", "wf", "*/5 * * * *", "America/New_York", "catch_up")
    for cron, tz, missed, message in (
        ("* * * *", "UTC", "skip", r"invalid cron expression '\* \* \* \*'"),
        ("61 * * * *", "UTC", "skip", "invalid cron expression '61"),
        ("* * * * *", "Mars/Base", "skip", "unknown timezone 'Mars/Base'"),
        ("* * * * *", "UTC", "sometimes", "missed must be 'skip' or 'catch_up'"),
    ):
        with pytest.raises(ConfigurationError, match=message):
            ScheduleSpec("s", "wf", cron, tz, missed)  # type: ignore[arg-type]


def test_percentiles_nearest_rank() -> None:
    assert percentiles([]) == {}
    values = list(range(1, 101))
    assert percentiles(values) == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert percentiles([7]) == {"p50": 7.0, "p95": 7.0, "p99": 7.0}


@pytest.mark.parametrize(
    ("cron", "tz", "after", "expected"),
    [
        ("*/15 * * * *", "UTC", (2024, 1, 1, 0, 0), (2024, 1, 1, 0, 15)),  # strictly after
        ("*/15 * * * *", "UTC", (2024, 1, 1, 0, 14, 59), (2024, 1, 1, 0, 15)),
        ("30 * * * * *", "UTC", (2024, 1, 1, 0, 0), (2024, 1, 1, 0, 0, 30)),  # seconds first
        ("0 9 * * *", "Europe/Paris", (2024, 6, 1, 12, 0), (2024, 6, 2, 7, 0)),  # CEST
        ("0 9 * * *", "America/New_York", (2024, 1, 1, 0, 0), (2024, 1, 1, 14, 0)),  # EST
    ],
)
def test_next_tick_is_strictly_after_in_the_schedules_timezone(
    cron: str, tz: str, after: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    assert next_tick(cron, tz, _ms(*after)) == _ms(*expected)


@pytest.mark.parametrize(
    ("cron", "tz", "at", "expected"),
    [
        ("*/15 * * * *", "UTC", (2024, 1, 1, 0, 15), (2024, 1, 1, 0, 15)),  # at: included
        ("*/15 * * * *", "UTC", (2024, 1, 1, 0, 29, 59), (2024, 1, 1, 0, 15)),
        ("30 * * * * *", "UTC", (2024, 1, 1, 0, 1, 29), (2024, 1, 1, 0, 0, 30)),
        ("0 9 * * *", "Europe/Paris", (2024, 6, 2, 6, 59), (2024, 6, 1, 7, 0)),
    ],
)
def test_prev_tick_is_at_or_before(
    cron: str, tz: str, at: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    assert prev_tick(cron, tz, _ms(*at)) == _ms(*expected)


def test_due_fires_nothing_twice_and_advances_to_the_latest_tick() -> None:
    now = _ms(2024, 1, 1, 1, 0, 5)
    fire, last = due("* * * * *", "UTC", _ms(2024, 1, 1, 0, 58), now, "skip")
    assert fire == [_ms(2024, 1, 1, 1, 0)] and last == _ms(2024, 1, 1, 1, 0)
    assert due("* * * * *", "UTC", last, now, "skip") == ([], None)
    assert due("* * * * *", "UTC", last, now, "catch_up") == ([], None)
    fire, last = due("* * * * *", "UTC", _ms(2024, 1, 1, 0, 58), now, "catch_up")
    assert fire == [_ms(2024, 1, 1, 0, 59), _ms(2024, 1, 1, 1, 0)] and last == fire[-1]


def test_ticks_stop_at_the_limit_and_six_field_specs_are_valid() -> None:
    found = ticks("* * * * * *", "UTC", _ms(2024, 1, 1), _ms(2024, 1, 1, 0, 1), 2)
    assert found == [_ms(2024, 1, 1, 0, 0, 1), _ms(2024, 1, 1, 0, 0, 2)]
    assert ScheduleSpec("s", "wf", "*/10 * * * * *").cron == "*/10 * * * * *"
    assert ScheduleSpec("s", "wf", "*/5 * * * *", "UTC", "skip").missed == "skip"


def test_a_ticks_workflow_id_is_in_utc_whatever_the_machines_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        assert workflow_id_for("s", 1_800_000_000_000) == "s@2027-01-15T08:00:00Z"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_six_field_crons_are_validated_seconds_first() -> None:
    validate("* * * 31 12 *", "UTC")  # day 31 of December (a month 31 if seconds came last)
    with pytest.raises(ConfigurationError, match=r"^invalid cron expression '\* \* 31 12 \* \*'"):
        validate("* * 31 12 * *", "UTC")  # hour 31 (valid only if seconds came last)
    validate("*/5 * * * *", "UTC")  # missed defaults to "skip"
    message = (
        "invalid cron expression '* *': use 5 fields (minute hour day month weekday, "
        "e.g. '*/5 * * * *') or 6 with seconds first (e.g. '*/10 * * * * *')"
    )
    with pytest.raises(ConfigurationError, match=f"^{re.escape(message)}$"):
        validate("* *", "UTC")


def test_a_schedule_name_is_checked_as_a_schedule_name() -> None:
    with pytest.raises(ConfigurationError, match="^invalid schedule name 'no spaces'"):
        ScheduleSpec("no spaces", "job", "* * * * *")
