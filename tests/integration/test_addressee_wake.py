"""A message wakes only its addressee: one send to one of many waiting workflows costs a
query by that workflow, not one by every waiter in the process."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import event

import tether
from tether import Tether

from .helpers import wait_until

WAITERS = 30


def test_send_wakes_only_the_addressee(make_app: Callable[..., Tether]) -> None:
    app = make_app(poll_interval=30.0)  # only a notification can wake a waiter in time

    @app.workflow(name="inbox")
    def inbox() -> Any:
        return tether.recv(timeout=60)

    app.launch()
    message_reads = re.compile(r"^SELECT tether_messages\.id")
    reads = [0]

    def count(_conn: Any, _cur: Any, statement: str, *_args: Any) -> None:
        if message_reads.match(statement):
            reads[0] += 1

    event.listen(app.store.db.engine, "before_cursor_execute", count)
    handles = [app.start_workflow(inbox, workflow_id=f"w{i}") for i in range(WAITERS)]
    wait_until(lambda: reads[0] >= WAITERS, what="every waiter to look for its message once")
    reads[0] = 0
    app.send("w7", "hello")
    assert handles[7].result(timeout=10) == "hello"
    assert reads[0] <= 2, f"{reads[0]} message queries for one send"
    for i, h in enumerate(handles):
        if i != 7:
            app.send(h.workflow_id, i)
    assert [h.result(timeout=10) for h in handles] == [
        "hello" if i == 7 else i for i in range(WAITERS)
    ]


def test_which_waiters_have_mail_is_one_answer_for_many_ids(
    make_app: Callable[..., Tether],
) -> None:
    """What the SQLite watcher asks after a commit elsewhere (both backends answer it): of
    the ids waiting, which have a message on which topic, or set which event."""
    app = make_app()

    @app.workflow(name="setter")
    def setter(key: str) -> None:
        tether.set_event(key, 1)

    app.launch()
    store = app.store
    for wid, topic in [("w3", "go"), ("w700", ""), ("w700", "go"), ("other", "go")]:
        app.send(wid, "m", topic=topic, allow_missing=True)
    waiting = [f"w{i}" for i in range(1200)]  # more than one chunk of ids on Postgres
    assert store.messages.waiting_for(waiting) == {("w3", "go"), ("w700", ""), ("w700", "go")}
    assert store.messages.waiting_for([]) == set()
    app.start_workflow(setter, "ready", workflow_id="s1").result(timeout=10)
    app.start_workflow(setter, "done", workflow_id="s2").result(timeout=10)
    assert store.messages.events_for(["s1", "nobody"]) == {("s1", "ready")}
