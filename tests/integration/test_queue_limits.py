"""Queues known to the database: schedules must name one, and limits change at run time."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tether import Tether
from tether.runtime.errors import ConfigurationError


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
