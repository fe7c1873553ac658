"""Schedules without an engine: the rows, the management API, firing and one scheduler round.

A real database (SQLite file, and Postgres when configured) and ``Schedules`` as the CLI
uses it, with no launched engine: a fired workflow is left PENDING and unheld, or enqueued.
The end-to-end behaviour with executors is in test_schedules.py.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select, update
from tether.runtime import schedules as schedules_module
from tether.runtime.errors import ConfigurationError
from tether.runtime.routing import Routing
from tether.runtime.schedules import Scheduler, Schedules, ScheduleSpec, describe
from tether.runtime.store import Store
from tether.runtime.store import schedules as store_module
from tether.runtime.store.schema import schedules as S
from tether.runtime.store.schema import workflows as W

from tether import Tether

NOW = 1_800_000_000_000  # 2027-01-15T08:00:00Z, a whole minute
MINUTE = 60_000


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(store_module, "now_ms", c)
    monkeypatch.setattr(schedules_module, "now_ms", c)
    return c


@pytest.fixture
def store(database_url: str, app_name: str, clock: Clock) -> Iterator[Store]:
    s = Store(database_url, app_name)
    s.migrate()
    s.versions.seen("v1", workflows=["job", "report"])
    s.versions.set_routing(Routing(current="v1"))
    yield s
    s.close()


@pytest.fixture
def other(store: Store, database_url: str) -> Iterator[Store]:
    s = Store(database_url, store.app_name + "x")
    yield s
    s.close()


@pytest.fixture
def schedules(store: Store) -> Schedules:
    return Schedules(store, lambda: None)


def put(store: Store, name: str, *, cron: str = "* * * * *", **kw: Any) -> bool:
    args: dict[str, Any] = dict(
        workflow_name="job",
        cron=cron,
        timezone="UTC",
        missed="skip",
        queue_name=None,
        source="runtime",
        replace=False,
    )
    args.update(kw)
    return store.schedules.put(name, **args)


def workflows(store: Store) -> dict[str, Any]:
    with store.db.read() as conn:
        rows = conn.execute(select(W).where(W.c.app_name == store.app_name)).all()
    return {r.workflow_id: r for r in rows}


def set_last_tick(store: Store, name: str, tick: int | None) -> None:
    with store.db.write() as conn:
        conn.execute(
            update(S).where(S.c.app_name == store.app_name, S.c.name == name).values(last_tick=tick)
        )


# -- the rows ----------------------------------------------------------------------------------


def test_put_creates_once_and_replace_keeps_state_and_last_tick(store: Store, clock: Clock) -> None:
    assert put(store, "s", cron="*/5 * * * *", queue_name="q")
    rec = store.schedules.get("s")
    assert rec is not None
    assert rec.to_dict() == {
        "name": "s",
        "workflow_name": "job",
        "cron": "*/5 * * * *",
        "timezone": "UTC",
        "state": "ACTIVE",
        "missed": "skip",
        "queue_name": "q",
        "source": "runtime",
        "last_tick": NOW,
        "created_at": NOW,
        "updated_at": NOW,
    }
    clock.now = NOW + 1_000
    assert not put(store, "s", cron="0 * * * *")  # exists: unchanged
    assert store.schedules.get("s") == rec
    assert store.schedules.set_state("s", "PAUSED")
    clock.now = NOW + 2_000
    assert not put(
        store,
        "s",
        cron="0 * * * *",
        workflow_name="report",
        timezone="Europe/Paris",
        missed="catch_up",
        source="code",
        replace=True,
    )
    got = store.schedules.get("s")
    assert got is not None
    assert (got.cron, got.workflow_name, got.timezone, got.missed, got.queue_name, got.source) == (
        "0 * * * *",
        "report",
        "Europe/Paris",
        "catch_up",
        None,
        "code",
    )
    assert (got.state, got.last_tick, got.created_at, got.updated_at) == (
        "PAUSED",
        NOW,
        NOW,
        NOW + 2_000,
    )


def test_rows_belong_to_their_app(store: Store, other: Store) -> None:
    assert put(other, "s")
    assert store.schedules.get("s") is None
    assert store.schedules.list() == []
    assert put(store, "s")  # the same name in another app is another schedule
    assert not store.schedules.set_state("nope", "PAUSED")
    assert store.schedules.remove("s")
    assert not store.schedules.remove("s")
    assert other.schedules.get("s") is not None


def test_list_is_by_name_and_can_leave_out_paused_ones(store: Store, clock: Clock) -> None:
    for name in ("b", "c", "a"):
        put(store, name)
    clock.now = NOW + 5
    assert store.schedules.set_state("b", "PAUSED")
    assert [r.name for r in store.schedules.list()] == ["a", "b", "c"]
    assert [r.name for r in store.schedules.list(active_only=True)] == ["a", "c"]
    b = store.schedules.get("b")
    assert b is not None and (b.state, b.updated_at) == ("PAUSED", NOW + 5)


def test_pruning_code_schedules_keeps_runtime_ones_and_other_apps(
    store: Store, other: Store
) -> None:
    for name in ("kept", "gone1", "gone2"):
        put(store, name, source="code")
    put(store, "runtime", source="runtime")
    put(other, "gone1", source="code")
    assert sorted(store.schedules.remove_code_schedules_except({"kept"})) == ["gone1", "gone2"]
    assert [r.name for r in store.schedules.list()] == ["kept", "runtime"]
    assert other.schedules.get("gone1") is not None
    assert store.schedules.remove_code_schedules_except({"kept"}) == []


def test_the_last_tick_only_moves_forward(store: Store, other: Store) -> None:
    put(store, "s")
    put(store, "t")
    put(other, "s")
    store.schedules.advance("s", NOW + MINUTE)
    store.schedules.advance("s", NOW + 1)  # an executor that lags: ignored
    assert store.schedules.get("s").last_tick == NOW + MINUTE  # type: ignore[union-attr]
    assert store.schedules.get("t").last_tick == NOW  # type: ignore[union-attr]
    assert other.schedules.get("s").last_tick == NOW  # type: ignore[union-attr]
    set_last_tick(store, "t", None)
    store.schedules.advance("t", NOW - MINUTE)
    assert store.schedules.get("t").last_tick == NOW - MINUTE  # type: ignore[union-attr]


# -- management ------------------------------------------------------------------------------


def test_create_get_pause_resume_delete(schedules: Schedules, clock: Clock) -> None:
    rec = schedules.create("nightly", "job", "0 3 * * *", timezone="Europe/Paris")
    clock.now = NOW + 1  # a later call (one in the same millisecond is taken for a repeat)
    assert (rec.name, rec.workflow_name, rec.cron, rec.timezone) == (
        "nightly",
        "job",
        "0 3 * * *",
        "Europe/Paris",
    )
    assert (rec.source, rec.state, rec.missed, rec.queue_name) == (
        "runtime",
        "ACTIVE",
        "skip",
        None,
    )
    with pytest.raises(ConfigurationError, match="'nightly' already exists: delete it first"):
        schedules.create("nightly", "job", "0 4 * * *")
    assert schedules.create("nightly", "job", "0 4 * * *", replace=True).cron == "0 4 * * *"
    assert schedules.pause("nightly").state == "PAUSED"
    assert schedules.get("nightly").state == "PAUSED"
    assert schedules.resume("nightly").state == "ACTIVE"
    assert [r.name for r in schedules.list()] == ["nightly"]
    schedules.delete("nightly")
    assert schedules.list() == []
    for call in (schedules.get, schedules.pause, schedules.resume, schedules.delete):
        with pytest.raises(
            ConfigurationError,
            match=r"^no schedule 'nightly' in app '\w+'; list them with `tether schedules list`$",
        ):
            call("nightly")


def test_create_refuses_bad_definitions(schedules: Schedules) -> None:
    with pytest.raises(ConfigurationError, match="invalid cron expression"):
        schedules.create("s", "job", "* * *")
    with pytest.raises(ConfigurationError, match="unknown timezone"):
        schedules.create("s", "job", "* * * * *", timezone="Mars/Olympus")
    with pytest.raises(
        ConfigurationError,
        match=r"^schedule 's' names queue 'q', which no version .* or leave queue unset$",
    ):
        schedules.create("s", "job", "* * * * *", queue="q")
    assert schedules.list() == []


def test_a_schedule_may_name_a_declared_queue(schedules: Schedules, store: Store) -> None:
    store.queue_config.declare([("q", {})], "v1")
    assert schedules.create("s", "job", "* * * * *", queue="q").queue_name == "q"
    schedules.check_queue("s", None)


def test_next_ticks_are_after_now_in_the_schedules_zone(schedules: Schedules) -> None:
    schedules.create("s", "job", "*/5 * * * *", timezone="Asia/Kolkata")
    got = schedules.next_ticks("s", 3)
    first = dt.datetime.fromtimestamp((NOW + 5 * MINUTE) / 1000, tz=dt.UTC)
    assert got == [first + dt.timedelta(minutes=5 * i) for i in range(3)]
    assert {str(t.tzinfo) for t in got} == {"Asia/Kolkata"}
    assert len(schedules.next_ticks("s")) == 1


def test_describe_gives_the_next_tick_of_an_active_schedule(
    schedules: Schedules, store: Store
) -> None:
    schedules.create("s", "job", "*/5 * * * *")
    assert describe(schedules.get("s"))["next_tick"] == NOW + 5 * MINUTE
    set_last_tick(store, "s", NOW + 7 * MINUTE)  # a tick handled ahead of this clock
    assert describe(schedules.get("s"))["next_tick"] == NOW + 10 * MINUTE
    schedules.pause("s")
    d = describe(schedules.get("s"))
    assert d["next_tick"] is None and d["name"] == "s" and d["state"] == "PAUSED"


# -- firing ------------------------------------------------------------------------------------


def test_a_fired_tick_is_a_pending_unheld_workflow_on_the_current_version(
    schedules: Schedules, store: Store
) -> None:
    schedules.create("s", "job", "0 * * * *", timezone="Europe/Paris")
    rec = schedules.get("s")
    assert schedules.fire(rec, NOW, "s@x")
    assert not schedules.fire(rec, NOW, "s@x")  # idempotent on the id
    row = workflows(store)["s@x"]
    assert (row.name, row.status, row.executor_id, row.version) == ("job", "PENDING", None, "v1")
    assert row.queue_name is None
    tick = json.loads(row.inputs)["args"][0]
    assert "2027-01-15T09:00:00+01:00" in json.dumps(tick)  # the tick, in the schedule's zone


def test_a_tick_on_a_queue_is_enqueued_and_wakes_the_dequeuer(
    schedules: Schedules, store: Store
) -> None:
    store.queue_config.declare([("q", {})], "v1")
    schedules.create("s", "job", "0 * * * *", queue="q")
    rec = schedules.get("s")
    assert schedules.fire(rec, NOW, "s@0")  # nobody to wake
    woken: list[str] = []
    schedules.on_enqueue = woken.append
    assert schedules.fire(rec, NOW, "s@1")
    assert not schedules.fire(rec, NOW, "s@1")
    assert woken == ["q"]
    row = workflows(store)["s@1"]
    assert (row.status, row.queue_name, row.version) == ("ENQUEUED", "q", "v1")
    schedules.on_enqueue = None
    assert schedules.fire(rec, NOW, "s@2")


def test_a_tick_goes_to_the_newest_version_that_declares_its_workflow(
    schedules: Schedules, store: Store, clock: Clock
) -> None:
    clock.now = NOW + 1
    store.versions.seen("v2", workflows=["job", "canary_only"])
    clock.now = NOW + 2
    store.versions.seen("v3", workflows=["canary_only"])
    assert schedules.create("a", "job", "* * * * *").name == "a"
    schedules.create("b", "canary_only", "* * * * *")
    assert schedules.target_version(schedules.get("a")) == "v1"
    assert schedules.target_version(schedules.get("b")) == "v3"
    store.versions.update("v3", state="retired")
    assert schedules.target_version(schedules.get("b")) == "v2"


def test_a_tick_no_version_can_run_is_refused(
    schedules: Schedules, store: Store, clock: Clock
) -> None:
    clock.now = NOW + 1
    store.versions.seen("v2", workflows=["job"])
    schedules.create("s", "nowhere", "* * * * *")
    rec = schedules.get("s")
    with pytest.raises(
        ConfigurationError, match="no version of app .* declares workflow 'nowhere'"
    ):
        schedules.fire(rec, NOW, "s@1")
    with pytest.raises(
        ConfigurationError,
        match=r"\(versions: v1, v2\); launch a version whose code has it, or delete the "
        r"schedule \(`tether schedules delete s`\)$",
    ):
        schedules.fire(rec, NOW, "s@1")
    store.versions.set_routing(Routing(current=None))
    with pytest.raises(ConfigurationError, match="has no current version yet"):
        schedules.fire(rec, NOW, "s@1")
    assert workflows(store) == {}


def test_trigger_fires_now_under_a_manual_id(schedules: Schedules, store: Store) -> None:
    schedules.create("s", "job", "0 0 1 1 *")
    wid = schedules.trigger("s")
    name, _, suffix = wid.partition("@manual-")
    assert name == "s" and len(suffix) == 12 and int(suffix, 16) >= 0
    assert schedules.trigger("s") != wid
    assert workflows(store)[wid].status == "PENDING"
    with pytest.raises(ConfigurationError, match="no schedule"):
        schedules.trigger("nope")


def test_backfill_fires_each_tick_in_the_closed_range_once(
    schedules: Schedules, store: Store
) -> None:
    schedules.create("s", "job", "*/10 * * * *")
    start = dt.datetime(2027, 1, 15, 7, 0, tzinfo=dt.UTC)  # on a tick: included
    end = dt.datetime(2027, 1, 15, 7, 30, tzinfo=dt.UTC)  # on a tick: included
    made = schedules.backfill("s", start, end)
    assert made == [f"s@2027-01-15T07:{m}:00Z" for m in ("00", "10", "20", "30")]
    assert schedules.backfill("s", start, end) == []
    assert sorted(workflows(store)) == sorted(made)
    one = dt.datetime(2027, 1, 15, 7, 40, tzinfo=dt.UTC)
    assert schedules.backfill("s", one, one) == ["s@2027-01-15T07:40:00Z"]
    past = dt.datetime(2027, 1, 15, 6, 0, 0, 1000, tzinfo=dt.UTC)  # a millisecond after one
    assert schedules.backfill("s", past, past + dt.timedelta(minutes=10)) == [
        "s@2027-01-15T06:10:00Z"
    ]


def test_backfill_refuses_a_naive_or_reversed_range(schedules: Schedules) -> None:
    schedules.create("s", "job", "*/10 * * * *")
    aware = dt.datetime(2027, 1, 15, 7, 0, tzinfo=dt.UTC)
    naive = dt.datetime(2027, 1, 15, 7, 30)
    for start, end in ((naive, aware), (aware, naive)):
        with pytest.raises(
            ConfigurationError, match="^backfill needs timezone-aware start and end datetimes$"
        ):
            schedules.backfill("s", start, end)
    with pytest.raises(ConfigurationError, match="^backfill: end is before start$"):
        schedules.backfill("s", aware, aware - dt.timedelta(milliseconds=1))
    with pytest.raises(ConfigurationError, match="no schedule"):
        schedules.backfill("nope", aware, aware)


# -- schedules declared in code ----------------------------------------------------------------


def test_sync_code_writes_specs_and_prunes_only_what_no_newer_version_declares(
    schedules: Schedules, store: Store, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    schedules.create("runtime", "job", "* * * * *")
    schedules.sync_code(
        [ScheduleSpec("a", "job", "* * * * *"), ScheduleSpec("b", "report", "0 * * * *")],
        prune=True,
        version="v1",
    )
    b = schedules.get("b")
    assert (b.source, b.workflow_name, b.cron) == ("code", "report", "0 * * * *")
    clock.now = NOW + 1
    store.versions.seen("v2", workflows=["job", "canary_only"])
    schedules.sync_code([ScheduleSpec("c", "canary_only", "* * * * *")], prune=False)
    assert [r.name for r in schedules.list()] == ["a", "b", "c", "runtime"]
    caplog.set_level(logging.INFO, logger="tether.schedules")
    schedules.sync_code([ScheduleSpec("a", "job", "*/2 * * * *")], prune=True, version="v1")
    # b is gone; c stays (v2, newer than v1, declares its workflow); runtime ones stay.
    assert [r.name for r in schedules.list()] == ["a", "c", "runtime"]
    assert "removed schedules no longer declared in code: ['b']" in caplog.messages
    assert schedules.get("a").cron == "*/2 * * * *"
    schedules.sync_code([], prune=True, version="v2")
    assert [r.name for r in schedules.list()] == ["runtime"]


# -- the scheduler loop ------------------------------------------------------------------------


def test_a_round_fires_due_ticks_advances_and_says_how_long_to_sleep(
    schedules: Schedules, store: Store, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    assert Scheduler(schedules).round() == 1.0  # nothing scheduled: check again in refresh
    assert Scheduler(schedules, refresh=2.0).round() == 2.0
    schedules.create("s", "job", "* * * * * *")  # every second
    schedules.create("paused", "job", "* * * * * *")
    schedules.pause("paused")
    schedules.create("broken", "nowhere", "* * * * * *")
    clock.now = NOW + 3_000
    wait = Scheduler(schedules, refresh=5.0).round()
    assert sorted(workflows(store)) == [f"s@2027-01-15T08:00:0{i}Z" for i in (1, 2, 3)]
    assert schedules.get("s").last_tick == NOW + 3_000
    assert schedules.get("broken").last_tick == NOW  # its failure stopped only itself
    assert "schedule 'broken' failed to fire" in caplog.messages
    assert wait == pytest.approx(1.0)  # the next tick is a second away
    clock.now = NOW + 3_400
    assert Scheduler(schedules, refresh=0.25).round() == pytest.approx(0.25)


def test_a_round_on_a_fresh_row_counts_from_now(
    schedules: Schedules, store: Store, clock: Clock
) -> None:
    schedules.create("s", "job", "* * * * * *")
    set_last_tick(store, "s", None)
    clock.now = NOW + 2_500
    assert Scheduler(schedules, refresh=5.0).round() == 0.5  # the next second's tick
    assert workflows(store) == {}


def test_the_scheduler_thread_runs_rounds_until_stopped(
    schedules: Schedules, caplog: pytest.LogCaptureFixture
) -> None:
    rounds: list[float] = []
    five = threading.Event()
    Scheduler(schedules).stop()  # before start: nothing to stop
    scheduler = Scheduler(schedules, refresh=0.01)

    def round_() -> float:
        rounds.append(time.monotonic())
        if len(rounds) >= 5:
            five.set()
        raise RuntimeError("a database blip")  # the loop goes on

    scheduler.round = round_  # type: ignore[method-assign]
    scheduler.start()
    thread = scheduler._thread
    assert thread is not None and thread.daemon and thread.name == "tether-scheduler"
    # Rounds go on after failures, a refresh apart (5 in well under a second; 3 s of margin).
    assert five.wait(3)
    scheduler.stop()
    assert not thread.is_alive()
    assert "scheduler round failed; retrying" in caplog.messages


# -- firing where the code runs ----------------------------------------------------------------


def engine_app(make_app: Callable[..., Tether]) -> Tether:
    # No recovery rounds during the test: a tick left unheld would wait for one.
    app = make_app(recovery_interval=60.0)

    @app.workflow(name="job")
    def job(at: dt.datetime) -> str:
        return at.isoformat()

    return app.launch()


def test_a_tick_fired_where_its_code_runs_starts_here_at_once(
    make_app: Callable[..., Tether],
) -> None:
    app = engine_app(make_app)
    app.schedules.create("s", "job", "0 0 1 1 *")
    rec = app.schedules.get("s")
    assert app.schedules.fire(rec, NOW, "s@1")
    row = app.get_workflow("s@1")
    assert (row.executor_id, row.lease_epoch) == (app.executor_id, 0)  # held at once
    result = app.retrieve_workflow("s@1").result(timeout=20)
    assert result == "2027-01-15T08:00:00+00:00"
    assert not app.schedules.fire(rec, NOW, "s@1")  # a repeat starts nothing


def test_a_draining_executor_leaves_a_tick_to_the_others(
    make_app: Callable[..., Tether],
) -> None:
    app = engine_app(make_app)
    app.schedules.create("s", "job", "0 0 1 1 *")
    app.engine.draining = True
    try:
        assert app.schedules.fire(app.schedules.get("s"), NOW, "s@1")
        row = app.get_workflow("s@1")
        assert (row.status, row.executor_id) == ("PENDING", None)
    finally:
        app.engine.draining = False
