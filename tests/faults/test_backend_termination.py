"""A blink of the database changes no outcome: backends terminated at each point of a
workflow's life (start, checkpoint, finish, claim, heartbeat, dequeue, listen) and at
random; every workflow still ends SUCCESS and every checkpointed step ran exactly once."""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import event
from tether.runtime.records import Status

import tether
from tests.integration.helpers import wait_until
from tether import Tether

from .inject import POINTS, Terminator, terminate_at

N = 12


def _workload(app: Tether, effects: Counter[tuple[str, str]]) -> Any:
    @app.step(name="effect")
    def effect(wid: str, name: str) -> str:
        effects[(wid, name)] += 1
        return name

    @app.workflow(name="flow")
    def flow(wid: str) -> str:
        effect(wid, "a")
        effect(wid, "b")
        tether.sleep(0.05)
        return effect(wid, "c")

    return flow


def _check(app: Tether, ids: list[str], effects: Counter[tuple[str, str]]) -> None:
    for wid in ids:
        assert app.retrieve_workflow(wid).result(timeout=60) == "c", wid
    statuses = Counter(app.get_workflow(wid).status for wid in ids)
    assert statuses == {Status.SUCCESS: len(ids)}
    reruns = {k: n for k, n in effects.items() if n != 1}
    assert not reruns, f"checkpointed steps ran more than once: {reruns}"
    assert len(effects) == 3 * len(ids)


def _ghost_rows(app: Tether, ids: list[str]) -> None:
    """Workflows held by an executor that never heartbeats: launch must claim them."""
    from tether.runtime.serialization import encode_inputs

    with app.store.db.write() as conn:
        for wid in ids:
            app.store.workflows.insert(
                conn,
                workflow_id=wid,
                name="flow",
                inputs_json=encode_inputs(wid, "flow", (wid,), {}),
                version="v1",
                status=Status.PENDING,
                executor_id="ghost",
            )


@pytest.mark.parametrize("point", sorted(POINTS), ids=lambda p: f"postgres-{p}")
def test_terminated_at(point: str, make_pg_app: Any, terminator: Terminator) -> None:
    app = make_pg_app()
    effects: Counter[tuple[str, str]] = Counter()
    flow = _workload(app, effects)
    queue = app.queue("q")
    ids = [f"{point}-{i}" for i in range(N)]
    if point == "claim":
        _ghost_rows(app, ids)
    # Dequeue claims and recovery claims are few (one per round with work): take the first.
    every = 1 if point in ("dequeue", "claim") else 2
    killed = terminate_at(app, terminator, point, times=3, every=every)
    app.launch()
    if point == "dequeue":
        for wid in ids:
            queue.enqueue(flow, wid, workflow_id=wid)
    elif point != "claim":
        for wid in ids:
            app.start_workflow(flow, wid, workflow_id=wid)  # never raises on a blink
    _check(app, ids, effects)
    wait_until(lambda: len(killed) == 3, timeout=20, what=f"three terminations at {point}")
    assert app._executor.health  # noqa: SLF001 == "RUNNING"


def test_listener_reconnects_postgres(make_pg_app: Any, terminator: Terminator) -> None:
    """A terminated LISTEN connection comes back, and NOTIFY wakes the dequeuer again
    (polling is slowed down to 30 s so that only a notification can wake it)."""
    app = make_pg_app(poll_interval=30.0)
    effects: Counter[tuple[str, str]] = Counter()
    flow = _workload(app, effects)
    app.queue("q")
    app.launch()
    listener = app._dispatch.listener
    assert listener is not None
    assert listener.connected.wait(10)
    wait_until(terminator.listeners, what="the LISTEN backend to be terminated")
    wait_until(lambda: not listener.connected.is_set(), what="the listener to notice")
    assert listener.connected.wait(15), "the listener did not reconnect"
    client = make_pg_app(poll_interval=30.0)  # another process's enqueue: only NOTIFY wakes
    client_flow = _workload(client, Counter())
    cq = client.queue("q")
    handle = cq.enqueue(client_flow, "late", workflow_id="late")
    assert handle.result(timeout=10) == "c"
    assert effects[("late", "c")] == 1
    del flow


def test_random_terminations_postgres(make_pg_app: Any, terminator: Terminator) -> None:
    """Every backend of the app terminated every 100-300 ms while 60 workflows start,
    dequeue, checkpoint, sleep and finish."""
    app = make_pg_app()
    effects: Counter[tuple[str, str]] = Counter()
    flow = _workload(app, effects)
    queue = app.queue("q")
    app.launch()
    stop = threading.Event()
    rng = random.Random(8)

    def kill() -> None:
        while not stop.wait(rng.uniform(0.1, 0.3)):
            terminator.app(app.settings.app_name)

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    ids = []
    try:
        for i in range(60):
            wid = f"r-{i}"
            ids.append(wid)
            if i % 2:
                queue.enqueue(flow, wid, workflow_id=wid)
            else:
                app.start_workflow(flow, wid, workflow_id=wid)
            time.sleep(0.02)
        wait_until(lambda: terminator.count >= 10, timeout=20, what="ten terminations")
    finally:
        stop.set()
        killer.join()
    _check(app, ids, effects)


@pytest.mark.parametrize("in_flight", [False, True], ids=["postgres-idle", "postgres-in-flight"])
def test_read_commands_answer_after_termination(
    in_flight: bool, make_pg_app: Any, terminator: Terminator, pg_url: str
) -> None:
    """``tether versions`` and ``tether workflows list`` answer after every backend of the
    app was terminated, never a raw driver error: idle (the pooled connections are dead when
    checked out) or in flight (the read's own backend is terminated just before each
    command's first statement, so only a repeat on a fresh connection answers)."""
    from tether.commands import list_versions, list_workflows, open_app

    app = make_pg_app()
    flow = _workload(app, Counter())
    app.launch()
    ids = [f"read-{i}" for i in range(3)]
    for wid in ids:
        app.start_workflow(flow, wid, workflow_id=wid)
    for wid in ids:
        assert app.retrieve_workflow(wid).result(timeout=30) == "c"
    admin = open_app(app_name=app.settings.app_name, database_url=pg_url)
    try:
        killed: list[str] = []
        if in_flight:
            reads = re.compile(r"^SELECT\b.*\bFROM tether_(versions|workflows)\b", re.DOTALL)

            def before(conn: Any, _cur: Any, statement: str, *_args: Any) -> None:
                table = reads.match(statement)
                if table is None or table.group(1) in killed:
                    return
                killed.append(table.group(1))
                terminator.pid(conn.connection.dbapi_connection.info.backend_pid)

            event.listen(admin.store.db.engine, "before_cursor_execute", before)
        assert terminator.app(app.settings.app_name) > 0
        versions = list_versions(admin)
        assert [v.version for v in versions] == ["v1"]
        listed = list_workflows(admin)
        assert sorted(w.workflow_id for w in listed) == ids
        assert all(w.status == Status.SUCCESS for w in listed)
        if in_flight:
            assert sorted(killed) == ["versions", "workflows"]
    finally:
        admin.store.close()
    assert app.retrieve_workflow(ids[0]).result(timeout=10) == "c"  # the executor lives on
