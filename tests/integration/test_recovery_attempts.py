"""Recovery attempts count crashes only: a waiting agent survives any number of clean
restarts, while a workflow whose executor keeps dying runs out of attempts."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import update
from tether.runtime.store.schema import executors as X

import tether
from tether import Status, Tether

from .helpers import wait_until


def waiter(make_app: Callable[..., Tether]) -> Tether:
    app = make_app()

    @app.workflow(name="approval", max_recovery_attempts=1)
    def approval() -> object:
        return tether.recv("approved", timeout=3600)

    return app.launch()


def crash(app: Tether) -> None:
    """Stop heartbeating without releasing anything, and look dead at once."""
    assert app._executor is not None
    app._executor.stop()
    with app.store.db.write() as conn:
        conn.execute(
            update(X)
            .where(X.c.app_name == app.app_name, X.c.executor_id == app.executor_id)
            .values(heartbeat_at=0)
        )


def test_clean_restarts_are_free_crashes_are_counted(make_app: Callable[..., Tether]) -> None:
    app = waiter(make_app)
    app.start_workflow("approval", workflow_id="exp-1")
    wait_until(lambda: app.list_steps("exp-1"), what="the agent to wait")
    for _ in range(3):  # autoscaling: SIGTERM-style drains, then a new instance
        app.shutdown()
        app = waiter(make_app)
        wait_until(app.engine.running_ids, what="the new instance to take it over")
    assert app.get_workflow("exp-1").recovery_attempts == 0

    crash(app)
    survivor = waiter(make_app)
    wait_until(survivor.engine.running_ids, what="a takeover after the crash")
    assert survivor.get_workflow("exp-1").recovery_attempts == 1
    crash(survivor)
    last = waiter(make_app)
    wait_until(
        lambda: last.get_workflow("exp-1").status == Status.RECOVERY_EXHAUSTED,
        what="the second crash to exhaust max_recovery_attempts=1",
    )
