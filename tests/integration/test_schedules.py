"""Cron schedules: the decorator, runtime schedules (create, pause, resume, delete, trigger,
backfill), missed ticks after downtime, and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from sqlalchemy import update
from tether.runtime.clock import now_ms
from tether.runtime.errors import ConfigurationError
from tether.runtime.schedules import SKIP_GRACE
from tether.runtime.store.schema import schedules as S

from tether import Status, Tether
from tether.cli import cli

from .helpers import wait_until

EVERY_SECOND = "* * * * * *"


def ticking_app(make_app: Callable[..., Tether], seen: list[dt.datetime]) -> Tether:
    app = make_app()
    lock = threading.Lock()

    @app.scheduled(EVERY_SECOND, timezone="Europe/Paris")
    @app.workflow(name="tick")
    def tick(at: dt.datetime) -> str:
        with lock:
            seen.append(at)
        return at.isoformat()

    @app.workflow(name="report")
    def report(at: dt.datetime) -> str:
        with lock:
            seen.append(at)
        return "report"

    return app


def test_decorated_workflow_fires_each_tick_with_its_time(
    make_app: Callable[..., Tether],
) -> None:
    seen: list[dt.datetime] = []
    app = ticking_app(make_app, seen).launch()
    wait_until(lambda: len(seen) >= 2, timeout=10, what="two ticks")
    first = seen[0]
    assert first.tzinfo is not None and first.utcoffset() is not None and first.microsecond == 0
    rec = app.get_workflow(f"tick@{first.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%S}Z")
    assert rec.version == app.version
    assert [s.name for s in app.schedules.list()] == ["tick"]
    assert app.schedules.get("tick").source == "code"


def test_runtime_schedule_lifecycle(make_app: Callable[..., Tether]) -> None:
    seen: list[dt.datetime] = []
    app = ticking_app(make_app, seen).launch()
    app.schedules.pause("tick")
    s = app.schedules.create("hourly", "report", "0 * * * *", timezone="UTC")
    assert (s.state, s.cron, s.source) == ("ACTIVE", "0 * * * *", "runtime")
    with pytest.raises(ConfigurationError, match="already exists"):
        app.schedules.create("hourly", "report", "5 * * * *")
    with pytest.raises(ConfigurationError, match="invalid cron"):
        app.schedules.create("bad", "report", "every hour")

    wid = app.schedules.trigger("hourly")
    assert app.retrieve_workflow(wid).result(timeout=10) == "report"

    start = dt.datetime(2024, 5, 1, 0, 0, tzinfo=dt.UTC)
    created = app.schedules.backfill("hourly", start, start + dt.timedelta(hours=2))
    assert created == [
        "hourly@2024-05-01T00:00:00Z",
        "hourly@2024-05-01T01:00:00Z",
        "hourly@2024-05-01T02:00:00Z",
    ]
    assert app.schedules.backfill("hourly", start, start + dt.timedelta(hours=2)) == []
    for w in created:
        assert app.retrieve_workflow(w).result(timeout=10) == "report"

    assert app.schedules.pause("hourly").state == "PAUSED"
    assert app.schedules.resume("hourly").state == "ACTIVE"
    app.schedules.delete("hourly")
    with pytest.raises(ConfigurationError, match="no schedule 'hourly'"):
        app.schedules.get("hourly")


@pytest.mark.parametrize("missed", ["skip", "catch_up"])
def test_ticks_missed_while_down(make_app: Callable[..., Tether], missed: str) -> None:
    seen: list[dt.datetime] = []
    app = make_app()

    @app.workflow(name="report")
    def report(at: dt.datetime) -> None:
        seen.append(at)

    # Nothing runs yet: the fleet is "down". The app has a current version from an earlier
    # launch, and the schedule last fired 60 s ago.
    app.store.migrate()
    app.store.versions.seen("v1")
    app.store.versions.ensure_current("v1")
    rec = app.schedules.create("catch", "report", EVERY_SECOND, missed=missed)  # type: ignore[arg-type]
    down_since = rec.created_at - 60_000
    with app.store.db.write() as conn:
        conn.execute(
            update(S)
            .where(S.c.app_name == app.app_name, S.c.name == "catch")
            .values(last_tick=down_since)
        )
    app.launch()
    if missed == "catch_up":
        wait_until(lambda: len(seen) >= 60, timeout=20, what="the missed ticks")
        fired = sorted(int(t.timestamp() * 1000) for t in seen)
        first_tick = down_since // 1000 * 1000 + 1000
        assert fired[:60] == list(range(first_tick, first_tick + 60_000, 1000))
    else:
        wait_until(lambda: len(seen) >= 2, timeout=10, what="new ticks")
        first = min(int(t.timestamp() * 1000) for t in seen)
        assert first >= rec.created_at - SKIP_GRACE * 1000 - 1000  # old ticks were skipped
        assert len(seen) < 30


def test_scheduled_work_goes_to_current_even_while_ramping(
    make_app: Callable[..., Tether],
) -> None:
    seen: list[dt.datetime] = []
    app = ticking_app(make_app, seen).launch()
    other = make_app(version="v2")
    other.store.versions.seen("v2")
    app.set_routing(ramping="v2", percent=100)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    created = app.schedules.backfill("tick", start, start + dt.timedelta(seconds=3))
    assert len(created) == 4
    assert {app.get_workflow(w).version for w in created} == {"v1"}
    for w in created:
        assert app.retrieve_workflow(w).result(timeout=10)
    assert app.get_workflow(created[0]).status == Status.SUCCESS


def test_schedules_cli(make_app: Callable[..., Tether], database_url: str, app_name: str) -> None:
    seen: list[dt.datetime] = []
    app = ticking_app(make_app, seen).launch()
    app.schedules.create("hourly", "report", "0 * * * *")
    env = {"TETHER_DATABASE_URL": database_url, "TETHER_APP_NAME": app_name}
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result.output

    listed = {s["name"]: s for s in json.loads(run("schedules", "list", "--json"))}
    assert set(listed) == {"hourly", "tick"} and listed["hourly"]["next_tick"] is not None
    run("schedules", "pause", "hourly")
    assert app.schedules.get("hourly").state == "PAUSED"
    run("schedules", "resume", "hourly")
    wid = json.loads(run("schedules", "trigger", "hourly", "--json"))["workflow_id"]
    assert app.retrieve_workflow(wid).result(timeout=10) == "report"
    out = json.loads(
        run("schedules", "backfill", "hourly", "--start", "2024-05-01T00:00",
            "--end", "2024-05-01T01:00", "--json")
    )  # fmt: skip
    assert out == {"created": ["hourly@2024-05-01T00:00:00Z", "hourly@2024-05-01T01:00:00Z"]}
    run("schedules", "delete", "hourly")
    bad = runner.invoke(cli, ["schedules", "pause", "hourly"], env=env)
    assert bad.exit_code == 1 and "no schedule 'hourly'" in bad.output
    assert "tick" in run("schedules", "list")


def test_a_paused_schedule_does_not_fire(make_app: Callable[..., Tether]) -> None:
    seen: list[dt.datetime] = []
    app = ticking_app(make_app, seen).launch()
    assert app.schedules.pause("tick").state == "PAUSED"
    # A tick already due in a round that read the schedule before the pause may still fire.
    quiet_from = now_ms() + 2000
    app.schedules.create("control", "report", EVERY_SECOND, timezone="UTC")

    def ticks_of(name: str) -> list[int]:
        return [
            int(dt.datetime.fromisoformat(w.workflow_id.split("@", 1)[1]).timestamp() * 1000)
            for w in app.list_workflows(name=name, limit=1000)
        ]

    # Positive evidence that the scheduler kept running rounds after the pause: the active
    # control schedule fired twice in the quiet period.
    wait_until(
        lambda: sum(t > quiet_from for t in ticks_of("report")) >= 2,
        timeout=15,
        what="the control schedule to fire twice after the pause",
    )
    assert [t for t in ticks_of("tick") if t > quiet_from] == []
    assert app.schedules.get("tick").state == "PAUSED"
