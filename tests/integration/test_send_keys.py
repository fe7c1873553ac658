"""Send idempotency keys: a repeated send with the same key delivers once."""

from __future__ import annotations

from collections.abc import Callable

import tether
from tether import Tether


def test_a_duplicate_send_with_the_same_key_delivers_once(make_app: Callable[..., Tether]) -> None:
    app = make_app()

    @app.workflow(name="inbox")
    def inbox() -> list[str]:
        got = [tether.recv("t", timeout=10)]
        tether.set_event("first", got[0])
        got.append(tether.recv("t", timeout=10))
        got.append(tether.recv("t", timeout=0.3))
        return [str(x) for x in got]

    @app.workflow(name="sender")
    def sender(dest: str) -> None:
        tether.send(dest, "from-workflow", "t", idempotency_key="wf-1")

    app.launch()
    h = app.start_workflow(inbox)
    app.send(h.workflow_id, "webhook", "t", idempotency_key="evt-1")
    app.send(h.workflow_id, "webhook", "t", idempotency_key="evt-1")  # a retry
    assert app.get_event(h.workflow_id, "first", timeout=10) == "webhook"
    app.send(h.workflow_id, "webhook", "t", idempotency_key="evt-1")  # after it was consumed
    app.start_workflow(sender, h.workflow_id).result(timeout=10)
    app.start_workflow(sender, h.workflow_id).result(timeout=10)  # another run, same key
    assert h.result(timeout=10) == ["webhook", "from-workflow", "None"]
