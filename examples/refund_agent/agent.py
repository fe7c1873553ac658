"""The refund agent: an LLM decides, tools act, and tether checkpoints every step.

A support ticket goes through four steps: ``decide`` (LLM), ``issue_refund`` (the payment
provider), ``write_reply`` (LLM) and ``send_email`` (the mail server). If the process dies
anywhere, another worker of the same version resumes the agent at the step where it stopped:
completed steps are answered from their checkpoints and never run again.

The model is offline and scripted by default (keyword rules, no network). To use a real one,
point ``TETHER_EXAMPLE_LLM_URL`` at an OpenAI-compatible API (e.g. https://api.openai.com/v1);
``TETHER_EXAMPLE_LLM_MODEL`` and ``TETHER_EXAMPLE_LLM_API_KEY`` are optional.

The payment provider and the mail server are stand-ins: JSON-lines files ``ledger.jsonl`` and
``outbox.jsonl`` in ``TETHER_EXAMPLE_DATA_DIR`` (default: the current directory).
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Protocol

import tether
from tether import Tether

log = logging.getLogger("refund_agent")

# The database comes from TETHER_DATABASE_URL (default sqlite:///tether.db). The short
# timings make the demo's crash recovery take seconds; the defaults (10 s lease) suit production.
app = Tether(app_name="refund-agent", lease_timeout=2.0, recovery_interval=0.2, poll_interval=0.1)

# The shop's orders (a stand-in for the order database the agent would look things up in).
ORDERS: dict[str, dict[str, Any]] = {
    "A-1001": {"customer": "ada@example.com", "item": "kettle", "total": 49.90},
    "A-1002": {"customer": "grace@example.com", "item": "keyboard", "total": 89.00},
    "A-1003": {"customer": "linus@example.com", "item": "desk lamp", "total": 35.50},
    "A-1004": {"customer": "margaret@example.com", "item": "headphones", "total": 120.00},
}

TICKETS: list[dict[str, str]] = [
    {"customer": "ada@example.com", "order_id": "A-1001",
     "message": "The kettle arrived broken, the lid is cracked. I want my money back."},
    {"customer": "grace@example.com", "order_id": "A-1002",
     "message": "I was charged twice for my keyboard order!"},
    {"customer": "linus@example.com", "order_id": "A-1003",
     "message": "Where is my lamp? It has been four days."},
    {"customer": "margaret@example.com", "order_id": "A-1004",
     "message": "My headphones never arrived. Please refund me."},
]  # fmt: skip

PROMPTS = {
    "decide": (
        "You handle refund requests for an online shop. Given a support ticket and its order, "
        "decide whether to refund. Refund the order total for damaged or missing goods and "
        'for duplicate charges; otherwise do not. Answer JSON: {"refund": bool, '
        '"amount": number, "reason": string}.'
    ),
    "reply": (
        "Write a short, friendly email to the customer about the decision on their ticket. "
        'Answer JSON: {"subject": string, "body": string}.'
    ),
}


# -- the model ------------------------------------------------------------------------------------


class Model(Protocol):
    def ask(self, task: str, payload: dict[str, Any]) -> dict[str, Any]: ...


class ScriptedModel:
    """Deterministic keyword rules standing in for an LLM; ``latency`` mimics its thinking time."""

    RULES = [
        (("broken", "damaged", "cracked"), "the item arrived damaged"),
        (("never arrived", "did not arrive", "missing"), "the parcel never arrived"),
        (("charged twice", "double charge", "duplicate charge"), "the order was charged twice"),
    ]

    def __init__(self, latency: float = 0.8) -> None:
        self.latency = latency

    def ask(self, task: str, payload: dict[str, Any]) -> dict[str, Any]:
        time.sleep(self.latency)
        ticket = payload["ticket"]
        if task == "decide":
            text = ticket["message"].lower()
            for words, reason in self.RULES:
                if any(w in text for w in words):
                    return {"refund": True, "amount": payload["order"]["total"], "reason": reason}
            return {"refund": False, "amount": 0, "reason": "the order is on its way"}
        d = payload["decision"]
        name = ticket["customer"].split("@")[0].capitalize()
        if d["refund"]:
            body = f"Hi {name}, we refunded ${d['amount']:.2f} because {d['reason']}. Sorry!"
            return {"subject": f"Your refund for order {ticket['order_id']}", "body": body}
        body = f"Hi {name}, no refund is needed: {d['reason']}. Thanks for your patience."
        return {"subject": f"About your order {ticket['order_id']}", "body": body}


class ChatCompletionsModel:
    """Any OpenAI-compatible ``/chat/completions`` endpoint, asked for a JSON object."""

    def __init__(self, url: str, model: str, api_key: str | None) -> None:
        url = url.rstrip("/")
        self.url = url if url.endswith("/chat/completions") else url + "/chat/completions"
        self.model = model
        self.api_key = api_key

    def ask(self, task: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": PROMPTS[task]},
                {"role": "user", "content": json.dumps(payload)},
            ],
            "response_format": {"type": "json_object"},
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url, json.dumps(body).encode(), headers, method="POST")
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - configured URL
            answer = json.load(resp)
        return json.loads(answer["choices"][0]["message"]["content"])


def model() -> Model:
    url = os.environ.get("TETHER_EXAMPLE_LLM_URL")
    if url:
        name = os.environ.get("TETHER_EXAMPLE_LLM_MODEL", "gpt-4o-mini")
        return ChatCompletionsModel(url, name, os.environ.get("TETHER_EXAMPLE_LLM_API_KEY"))
    return ScriptedModel(float(os.environ.get("TETHER_EXAMPLE_LLM_LATENCY", "0.8")))


# -- the tools (stand-ins that append to files) ---------------------------------------------------


def data_dir() -> Path:
    return Path(os.environ.get("TETHER_EXAMPLE_DATA_DIR", "."))


def append_line(name: str, entry: dict[str, Any]) -> None:
    """Append one JSON line, flushed to disk: the external system's own record of the call."""
    entry = {**entry, "worker": os.environ.get("TETHER_EXECUTOR_ID", str(os.getpid()))}
    with open(data_dir() / name, "a") as f:
        f.write(json.dumps(entry) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_lines(name: str) -> list[dict[str, Any]]:
    path = data_dir() / name
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


# -- steps and the workflow -----------------------------------------------------------------------


@app.step(name="decide", retries=3, interval=0.5)
def decide(ticket: dict[str, str]) -> dict[str, Any]:
    """Ask the model, then hold its answer to the shop's policy before any money moves."""
    order = ORDERS[ticket["order_id"]]
    d = model().ask("decide", {"ticket": ticket, "order": order})
    amount = round(min(float(d.get("amount") or 0), order["total"]), 2) if d.get("refund") else 0
    decision = {"refund": amount > 0, "amount": amount, "reason": str(d.get("reason", ""))}
    log.info("%s: %s", ticket["order_id"], _describe(decision))
    return decision


@app.step(name="issue_refund")
def issue_refund(order_id: str, amount: float, idempotency_key: str) -> dict[str, Any]:
    """Move money. Not retried blindly; a real provider also gets ``idempotency_key``, which
    covers the one window a checkpoint cannot: a crash after the provider accepted the
    refund and before this step's result was recorded."""
    refund = {"refund_id": f"re_{uuid.uuid4().hex[:10]}", "order_id": order_id, "amount": amount}
    append_line("ledger.jsonl", {**refund, "idempotency_key": idempotency_key})
    log.info("%s: refund %s issued: $%.2f", order_id, refund["refund_id"], amount)
    return refund


@app.step(name="write_reply", retries=3, interval=0.5)
def write_reply(ticket: dict[str, str], decision: dict[str, Any]) -> dict[str, str]:
    reply = model().ask("reply", {"ticket": ticket, "decision": decision})
    return {"subject": str(reply["subject"]), "body": str(reply["body"])}


@app.step(name="send_email")
def send_email(to: str, subject: str, body: str) -> None:
    append_line("outbox.jsonl", {"to": to, "subject": subject, "body": body})
    log.info("email sent to %s: %s", to, subject)


@app.workflow(name="refund_agent")
def refund_agent(ticket: dict[str, str]) -> dict[str, Any]:
    decision = decide(ticket)
    if decision["refund"]:
        key = f"{tether.workflow_id()}:refund"
        issue_refund(ticket["order_id"], decision["amount"], key)
    reply = write_reply(ticket, decision)
    send_email(ticket["customer"], reply["subject"], reply["body"])
    return {"order_id": ticket["order_id"], **decision}


def _describe(decision: dict[str, Any]) -> str:
    if decision["refund"]:
        return f"refund ${decision['amount']:.2f} ({decision['reason']})"
    return f"no refund ({decision['reason']})"
