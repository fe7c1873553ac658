"""Postgres: a claim cannot slip between a checkpoint's fence check and its insert.

The checkpoint is one ``INSERT ... SELECT`` whose SELECT reads the workflow row ``FOR SHARE``.
Under READ COMMITTED a plain SELECT would read the last committed row and never wait for a
claim in flight: the stale holder's checkpoint would land although a peer had just taken the
workflow. With the row lock, the checkpoint waits for the claim's transaction, re-reads the
row once it commits, sees the new holder and epoch, and writes nothing.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import psycopg
import pytest

from tether import Status, Tether

from .helpers import wait_until


@pytest.mark.parametrize("backend", ["postgres"])
def test_postgres_checkpoint_waits_for_a_claim_in_flight_and_is_fenced_out(
    make_app: Callable[..., Tether], database_url: str, app_name: str
) -> None:
    app = make_app()
    runs: Counter[str] = Counter()
    inside, release = threading.Event(), threading.Event()

    @app.step(name="slow")
    def slow() -> str:
        runs["slow"] += 1
        if runs["slow"] == 1:
            inside.set()
            release.wait(30)
        return "done"

    @app.workflow(name="w")
    def w() -> str:
        return slow()

    app.launch()
    h = app.start_workflow(w, workflow_id="f")
    assert inside.wait(10)
    epoch = app.get_workflow("f").lease_epoch
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    ops = "SELECT count(*) FROM tether_operations WHERE app_name = %s AND workflow_id = 'f'"

    with psycopg.connect(url) as claimer, psycopg.connect(url, autocommit=True) as watcher:
        # A peer takes the workflow, as recovery does, and has not committed yet.
        claimed = claimer.execute(
            "UPDATE tether_workflows SET executor_id = 'peer', lease_epoch = lease_epoch + 1"
            " WHERE app_name = %s AND workflow_id = 'f' AND lease_epoch = %s",
            (app_name, epoch),
        )
        assert claimed.rowcount == 1
        release.set()  # the step returns; its checkpoint now races the claim

        def waiting_or_written() -> tuple[int, int] | None:
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                (claimer.info.backend_pid,),
            ).fetchone()
            written = watcher.execute(ops, (app_name,)).fetchone()
            assert waiting is not None and written is not None
            return (waiting[0], written[0]) if waiting[0] or written[0] else None

        state = wait_until(waiting_or_written, what="the checkpoint to wait or to be written")
        assert state == (1, 0), "the checkpoint did not wait for the claim in flight"
        claimer.commit()

    # The first run is fenced out; the app takes the workflow back from the holder that never
    # heartbeats and runs the step again: the only checkpoint is that second run's.
    assert h.result(timeout=15) == "done"
    assert runs["slow"] == 2
    assert app.get_workflow("f").status == Status.SUCCESS
    assert [(op.position, op.name) for op in app.list_steps("f")] == [(0, "slow")]
