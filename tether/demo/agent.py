"""The demo's refund agent, as each revision runs it (``tether serve tether.demo.agent:app``).

One module holds the three releases the demo deploys, chosen by ``TETHER_DEMO_RELEASE``:

- ``v1``: classify the ticket (LLM), look the order up, ask a human to approve a large refund
  (a durable ``recv``), issue the refund, write the reply (LLM), send the email;
- ``v2``: the same behind a ``patch("fraud-screen")`` gate that adds a fraud screen (an LLM
  call) before any money moves. A run that already passed the gate's position on v1 code
  keeps v1's path, so v1's histories replay on v2;
- ``v2-bad``: v2 whose fraud screen fails for small orders, a bug the rollout's gate catches.

Each step appends one JSON line to the side-effect log (``TETHER_DEMO_EFFECTS``) before it
returns: the outside world's own record of what ran, where and on which version. The line
carries a token that the step also returns, so the checkpointed result names the one run of
the step that counts, and any line after it would be a completed step run again.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import tether
from tether import Tether

from .tickets import APPROVAL_LIMIT, decide, order_of

RELEASES = ("v1", "v2", "v2-bad")
GATE = "fraud-screen"
TOPIC = "approval"


class RiskModelError(RuntimeError):
    """The bad release's fraud screen: a schema change the risk model does not accept."""


def effect(step: str, wid: str, **detail: Any) -> str:
    """Append one line to the side-effect log; returns its token."""
    token = uuid.uuid4().hex[:12]
    line = {
        "wid": wid,
        "step": step,
        "token": token,
        "executor": os.environ.get("TETHER_EXECUTOR_ID", f"pid-{os.getpid()}"),
        "version": os.environ.get("TETHER_APP_VERSION", ""),
        "at": time.time(),
        **detail,
    }
    path = os.environ.get("TETHER_DEMO_EFFECTS")
    if path:
        # One write of one line with O_APPEND: lines of concurrent processes never interleave.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, (json.dumps(line) + "\n").encode())
        finally:
            os.close(fd)
    return token


def think() -> None:
    """A model's thinking time."""
    time.sleep(float(os.environ.get("TETHER_DEMO_LATENCY", "0.3")))


def make_app(release: str, **options: Any) -> Tether:
    """The agent app of one release. A revision takes its app name, database and version
    from its environment; ``options`` (e.g. ``app_name``) go to ``Tether``."""
    if release not in RELEASES:
        raise ValueError(f"unknown release {release!r}: use one of {RELEASES}")
    app = Tether(
        **options,
        # Short timings so a killed process's work is taken over within seconds.
        lease_timeout=float(os.environ.get("TETHER_LEASE_TIMEOUT", "2.0")),
        recovery_interval=0.2,
        poll_interval=0.1,
        shutdown_grace=3.0,
    )

    @app.step(name="classify", retries=2, interval=0.2)
    def classify(wid: str, ticket: dict[str, Any]) -> dict[str, Any]:
        think()
        decision = decide(ticket)
        return {**decision, "token": effect("classify", wid, kind="llm")}

    @app.step(name="lookup_order", retries=2, interval=0.2)
    def lookup_order(wid: str, order_id: str) -> dict[str, Any]:
        return {**order_of(order_id), "token": effect("lookup_order", wid, kind="tool")}

    @app.step(name="fraud_screen")
    def fraud_screen(wid: str, order: dict[str, Any]) -> dict[str, Any]:
        think()
        if release == "v2-bad" and order["total"] < APPROVAL_LIMIT:
            raise RiskModelError(
                f"risk model rejected order {order['order_id']}: unknown field 'currency'"
            )
        return {"risk": "low", "token": effect("fraud_screen", wid, kind="llm")}

    @app.step(name="issue_refund")
    def issue_refund(wid: str, order_id: str, amount: float) -> dict[str, Any]:
        token = effect("issue_refund", wid, kind="tool", order_id=order_id, amount=amount)
        return {"refund_id": f"re_{token}", "token": token}

    @app.step(name="write_reply", retries=2, interval=0.2)
    def write_reply(wid: str, refunded: bool) -> dict[str, Any]:
        think()
        body = "Your refund is on its way." if refunded else "We could not refund this order."
        return {"body": body, "token": effect("write_reply", wid, kind="llm")}

    @app.step(name="send_email")
    def send_email(wid: str, to: str, body: str) -> dict[str, Any]:
        return {"token": effect("send_email", wid, kind="tool", to=to)}

    @app.workflow(name="refund_agent")
    def refund_agent(ticket: dict[str, Any]) -> dict[str, Any]:
        wid = tether.workflow_id()
        decision = classify(wid, ticket)
        order = lookup_order(wid, ticket["order_id"])
        path = "classic"
        if release != "v1" and tether.patch(GATE):
            fraud_screen(wid, order)
            path = "screened"
        approval = None
        if decision["refund"] and decision["amount"] >= APPROVAL_LIMIT:
            answer = tether.recv(TOPIC, timeout=300)
            approve = isinstance(answer, dict) and bool(answer.get("approve"))
            approval = "approved" if approve else "denied"
        refunded = bool(decision["refund"]) and approval != "denied"
        if refunded:
            issue_refund(wid, ticket["order_id"], decision["amount"])
        reply = write_reply(wid, refunded)
        send_email(wid, ticket["customer"], reply["body"])
        return {"path": path, "refunded": refunded, "approval": approval}

    return app
