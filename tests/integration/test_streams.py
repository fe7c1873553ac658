"""Durable streams: written exactly once by a workflow, read live and resumably by offset."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from tether.runtime.errors import WorkflowNotFoundError

import tether
from tether import Client, Tether
from tether.cli import cli

from .helpers import ops


def test_a_stream_read_live_while_the_workflow_runs_and_after(
    make_app: Callable[..., Tether], database_url: str
) -> None:
    app = make_app()

    @app.workflow(name="talker")
    def talker(n: int) -> str:
        for i in range(n):
            tether.write_stream("tokens", f"t{i}")
            if i == 2:
                tether.recv("more", timeout=10)  # the reader sees t0..t2 before this returns
        tether.write_stream("progress", {"done": True})
        return "ok"

    app.launch()
    h = app.start_workflow(talker, 5)
    live = app.read_stream(h.workflow_id, "tokens", timeout=10)
    assert [next(live) for _ in range(3)] == ["t0", "t1", "t2"]
    app.send(h.workflow_id, "go", "more")
    assert list(live) == ["t3", "t4"]  # ends with the workflow
    assert h.result(timeout=10) == "ok"
    # After the end: the whole stream, or from an offset (resume where a reader stopped).
    assert list(app.read_stream(h.workflow_id, "tokens")) == [f"t{i}" for i in range(5)]
    assert list(app.read_stream(h.workflow_id, "tokens", offset=3)) == ["t3", "t4"]
    assert list(app.read_stream(h.workflow_id, "progress")) == [{"done": True}]
    assert list(app.read_stream(h.workflow_id, "nothing")) == []
    assert [k for _, k, _ in ops(app, h.workflow_id)].count("stream") == 6
    with Client(database_url, app.app_name) as client:
        assert list(client.read_stream(h.workflow_id, "tokens", offset=4)) == ["t4"]

        async def read_async() -> list[Any]:
            return [v async for v in client.read_stream_async(h.workflow_id, "tokens")]

        assert asyncio.run(read_async()) == [f"t{i}" for i in range(5)]
    with pytest.raises(WorkflowNotFoundError):
        list(app.read_stream("missing", "tokens"))


def test_close_stream_ends_readers_and_async_writes(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.workflow(name="writer")
    async def writer() -> None:
        await asyncio.gather(*(tether.write_stream_async("s", i) for i in range(3)))
        tether.close_stream("s")
        await tether.recv_async("never", timeout=30)

    app.launch()
    h = app.start_workflow(writer)
    got: list[Any] = []
    reader = threading.Thread(target=lambda: got.extend(app.read_stream(h.workflow_id, "s")))
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive() and got == [0, 1, 2]  # closed while the workflow still runs
    app.cancel(h.workflow_id)


def test_a_recovered_workflow_does_not_write_twice(make_app: Callable[..., Tether]) -> None:
    first = make_app()
    block = threading.Event()

    def build(app: Tether) -> Any:
        @app.step(name="slow")
        def slow() -> None:
            block.wait(10)

        @app.workflow(name="w")
        def w() -> None:
            tether.write_stream("s", "a")
            slow()
            tether.write_stream("s", "b")

        return w

    w = build(first)
    first.launch()
    h = first.start_workflow(w)
    assert next(first.read_stream(h.workflow_id, "s", timeout=10)) == "a"
    first.shutdown(grace=0.1)  # stops mid-step; its lease is released
    block.set()
    second = make_app()
    build(second)
    second.launch()
    second.retrieve_workflow(h.workflow_id).result(timeout=10)
    assert list(second.read_stream(h.workflow_id, "s")) == ["a", "b"]


def test_the_cli_prints_a_stream_from_an_offset(
    make_app: Callable[..., Tether], database_url: str
) -> None:
    app = make_app()

    @app.workflow(name="w")
    def w() -> None:
        for v in ([1, 2], "x", {"k": None}):
            tether.write_stream("s", v)

    app.launch()
    h = app.start_workflow(w)
    h.result(timeout=10)
    base = ["--database-url", database_url, "--app", app.app_name]
    out = CliRunner().invoke(cli, [*base, "workflows", "stream", h.workflow_id, "s"])
    assert out.exit_code == 0, out.output
    assert out.output.splitlines() == ["0  [1, 2]", '1  "x"', '2  {"k": null}']
    args = [*base, "--json", "workflows", "stream", h.workflow_id, "s", "--offset", "2", "-f"]
    out = CliRunner().invoke(cli, args)
    assert [json.loads(line) for line in out.output.splitlines()] == [
        {"offset": 2, "value": {"k": None}}
    ]
