"""Queues known to the database: schedules must name one, and limits change at run time."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from tether.runtime.errors import ConfigurationError

from tether import Tether
from tether.cli import cli

from .queue_helpers import Recorder, queued_app


def test_a_schedule_on_a_queue_no_version_declared_is_refused(
    make_app: Callable[..., Tether],
) -> None:
    app = make_app()
    app.queue("known")

    @app.workflow(name="report")
    def report(at: object) -> None:
        return None

    app.launch()
    with pytest.raises(ConfigurationError, match="no version of app .* declares"):
        app.schedules.create("s1", "report", "0 * * * *", queue="typo")
    assert app.schedules.list() == []
    app.schedules.create("s2", "report", "0 * * * *", queue="known")
    # Another process (no code of its own, as the CLI) knows the queues any version declared.
    other = make_app(version="admin")
    other.schedules.create("s3", "report", "0 * * * *", queue="known")
    with pytest.raises(ConfigurationError, match="typo"):
        other.schedules.create("s4", "report", "0 * * * *", queue="typo")


def test_a_code_schedule_on_an_undeclared_queue_fails_at_launch(
    make_app: Callable[..., Tether],
) -> None:
    app = make_app()

    @app.scheduled("0 * * * *", queue="nowhere")
    @app.workflow(name="tick")
    def tick(at: object) -> None:
        return None

    with pytest.raises(ConfigurationError, match="nowhere"):
        app.launch()


def test_queue_limits_change_at_run_time_and_each_change_is_logged(
    make_app: Callable[..., Tether], database_url: str
) -> None:
    rec = Recorder()
    app, q = queued_app(make_app, rec, worker_concurrency=1)
    first = [q.enqueue("job", i, hold=0.1) for i in range(3)]
    for h in first:
        h.result(timeout=20)
    assert rec.peak["*"] == 1  # the declared limit

    limits = app.queues.set_limits("q", worker_concurrency=3, rate_limit=(100, 1.0))
    assert limits.overrides == {"worker_concurrency": 3, "rate_limit": [100, 1.0]}
    assert limits.effective["worker_concurrency"] == 3
    assert limits.declared["worker_concurrency"] == 1
    rec.peak.clear()
    more = [q.enqueue("job", i, hold=0.3) for i in range(6)]
    for h in more:
        h.result(timeout=20)
    assert rec.peak["*"] == 3  # the run-time limit, without a redeploy

    # From the CLI: back to the declared value for one limit, remove another.
    base = ["--database-url", database_url, "--app", app.app_name, "queue-limits"]
    out = CliRunner().invoke(cli, [*base, "set", "q", "--reset", "worker_concurrency"])
    assert out.exit_code == 0, out.output
    out = CliRunner().invoke(cli, ["--json", *base, "set", "q", "--rate-limit", "none"])
    assert out.exit_code == 0, out.output
    shown = json.loads(out.stdout)
    assert shown["overrides"] == {"rate_limit": None}
    assert shown["effective"] == {
        "concurrency": None,
        "worker_concurrency": 1,
        "rate_limit": None,
        "partition_concurrency": None,
    }
    assert [c["after"] for c in shown["changes"]] == [
        {"worker_concurrency": 3, "rate_limit": [100, 1.0]},
        {"rate_limit": [100, 1.0]},
        {"rate_limit": None},
    ]
    assert all(c["changed_by"] for c in shown["changes"])
    out = CliRunner().invoke(cli, [*base, "show", "q"])
    assert out.exit_code == 0 and "worker_concurrency" in out.output
    with pytest.raises(ConfigurationError, match="positive integer"):
        app.queues.set_limits("q", concurrency=0)
    with pytest.raises(ConfigurationError, match="unknown limit"):
        app.queues.set_limits("q", concurency=2)
    with pytest.raises(ConfigurationError, match="no queue 'nope'"):
        app.queues.set_limits("nope", concurrency=2)
    assert len(app.queues.limits("q").changes) == 3  # refused changes are not logged
