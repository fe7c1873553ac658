"""No workflow waits forever on a live executor: rows it holds but no longer runs are run
again (self-audit), and starts beyond max_workflows wait in the database, claimable by any
executor, instead of in an invisible local queue. Bad ids and late registrations are
refused before anything is written, the same on both backends."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from tether.runtime.errors import ConfigurationError, SerializationError
from tether.runtime.serialization import encode_inputs

from tether import Status, Tether


def test_held_but_not_running_is_run_again(make_app: Callable[..., Tether]) -> None:
    """A row this live executor holds, which no run of it will finish (its end was not
    durable, say), is found by the self-audit and run again from its checkpoints."""
    app = make_app()

    @app.workflow(name="flow")
    def flow(x: int) -> int:
        return x + 1

    app.launch()
    with app.store.db.write() as conn:  # held by this executor, not running here
        app.store.workflows.insert(
            conn,
            workflow_id="stray",
            name="flow",
            inputs_json=encode_inputs("stray", "flow", (41,), {}),
            version="v1",
            status=Status.PENDING,
            executor_id=app.executor_id,
        )
    assert app.retrieve_workflow("stray").result(timeout=15) == 42
    assert app.get_workflow("stray").lease_epoch == 1  # re-taken: a lost run cannot write


def test_starts_beyond_capacity_wait_in_the_database(make_app: Callable[..., Tether]) -> None:
    gate = threading.Event()
    busy = make_app(max_workflows=1)

    def register(app: Tether) -> None:
        @app.workflow(name="flow")
        def flow(x: int) -> int:
            if x == 0:
                gate.wait(20)
            return x

    register(busy)
    busy.launch()
    handles = [busy.start_workflow("flow", i, workflow_id=f"w{i}") for i in range(4)]
    # One runs here; the others are visible and unheld, not queued in this process.
    unheld = {r.workflow_id for r in busy.list_workflows() if r.executor_id is None}
    assert unheld == {"w1", "w2", "w3"}
    peer = make_app(executor_id="peer")
    register(peer)
    peer.launch()
    for h in handles[1:]:
        assert h.result(timeout=15) == int(h.workflow_id[1:])
    assert {busy.get_workflow(f"w{i}").executor_id for i in (1, 2, 3)} == {"peer"}
    gate.set()
    assert handles[0].result(timeout=15) == 0


def test_backlog_is_claimed_when_a_slot_frees(make_app: Callable[..., Tether]) -> None:
    app = make_app(max_workflows=2, recovery_interval=30.0)  # only the slot hook wakes it

    @app.workflow(name="flow")
    def flow(x: int) -> int:
        return x

    app.launch()
    handles = [app.start_workflow("flow", i) for i in range(10)]
    assert [h.result(timeout=15) for h in handles] == list(range(10))


@pytest.mark.parametrize(
    ("wid", "match"),
    [("", "empty"), ("x" * 256, "256 characters"), ("a\x00b", "NUL"), (7, "not int")],
)
def test_bad_workflow_ids_are_refused_up_front(
    make_app: Callable[..., Tether], wid: Any, match: str
) -> None:
    app = make_app()
    q = app.queue("q")

    @app.workflow(name="flow")
    def flow() -> None:
        return None

    app.launch()
    with pytest.raises(ConfigurationError, match=match):
        app.start_workflow(flow, workflow_id=wid)
    with pytest.raises(ConfigurationError, match=match):
        q.enqueue(flow, workflow_id=wid)
    assert app.list_workflows() == []


def test_late_and_duplicate_registrations_are_refused(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.step(name="s")
    def s1() -> int:
        return 1

    with pytest.raises(ConfigurationError, match="two different functions .* step 's'"):

        @app.step(name="s")
        def s2() -> int:
            return 2

    app.launch()
    with pytest.raises(ConfigurationError, match="registered after launch"):

        @app.workflow(name="late")
        def late() -> None:
            return None


def test_deeply_nested_inputs_name_the_workflow(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.workflow(name="flow")
    def flow(v: Any) -> None:
        return None

    app.launch()
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(SerializationError, match=r"'deep' \(flow\) inputs: .* nested too"):
        app.start_workflow(flow, deep, workflow_id="deep")
    assert app.list_workflows() == []
