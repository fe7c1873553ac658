"""tether.Client forks and deletes workflows, from a process without the workflow code."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tether.runtime.errors import ConfigurationError, WorkflowNotFoundError

import tether
from tether import Client, Tether


def test_a_client_forks_and_deletes(make_app: Callable[..., Tether], database_url: str) -> None:
    app = make_app()
    calls: list[int] = []

    @app.step(name="count")
    def count(i: int) -> int:
        calls.append(i)
        return i

    @app.workflow(name="w")
    def w() -> int:
        tether.set_event("e", "set")
        tether.write_stream("s", "first")
        total = count(1)
        tether.write_stream("s", "second")
        return total + count(2)

    app.launch()
    h = app.start_workflow(w)
    assert h.result(timeout=10) == 3
    with Client(database_url, app.app_name) as client:
        forked = client.fork(h.workflow_id, 3, new_workflow_id="again")  # after count(1)
        assert forked.result(timeout=10) == 3
        assert calls == [1, 2, 2]  # only the operations after the position ran again
        fork = client.get_workflow("again")
        assert fork.forked_from == h.workflow_id and fork.forked_from_position == 3
        assert list(client.read_stream("again", "s")) == ["first", "second"]  # no duplicate
        assert app.get_event("again", "e", timeout=1) == "set"
        with pytest.raises(ConfigurationError, match="fork from a position in 0..5"):
            client.fork(h.workflow_id, 9)
        assert client.delete_workflow("again") == ["again"]
        with pytest.raises(WorkflowNotFoundError):
            client.get_workflow("again")
        assert client.get_workflow(h.workflow_id).status == "SUCCESS"
