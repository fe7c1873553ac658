"""The shop the demo's agents serve: orders, support tickets, and the scripted model's rules.

Pure and deterministic: ticket ``n`` is always the same ticket, so a run can be reproduced,
and the human approver (the driver) knows which tickets the agent will ask about because it
applies the same rules (``needs_approval``).
"""

from __future__ import annotations

from typing import Any

#: Refunds of at least this amount wait for a human's approval message.
APPROVAL_LIMIT = 100.0
#: Above this, the human denies the refund.
DENY_ABOVE = 400.0

_ITEMS = [
    ("kettle", 49.90),
    ("keyboard", 89.00),
    ("desk lamp", 35.50),
    ("headphones", 120.00),
    ("monitor", 229.00),
    ("office chair", 450.00),
    ("mouse", 24.99),
    ("espresso machine", 310.00),
]
_CUSTOMERS = ["ada", "grace", "linus", "margaret", "alan", "barbara", "ken", "frances"]
_MESSAGES = [
    ("The {item} arrived broken. I want my money back.", True),
    ("I was charged twice for my {item}!", True),
    ("My {item} never arrived. Please refund me.", True),
    ("Where is my {item}? It has been four days.", False),
]
_REFUND_WORDS = ("broken", "charged twice", "never arrived")


def ticket(n: int) -> dict[str, Any]:
    """Support ticket number ``n``."""
    item, _ = _ITEMS[(n * 3) % len(_ITEMS)]
    message, _ = _MESSAGES[(n * 5 + n // 7) % len(_MESSAGES)]
    customer = _CUSTOMERS[n % len(_CUSTOMERS)]
    return {
        "order_id": f"A-{1000 + n}",
        "customer": f"{customer}@example.com",
        "message": message.format(item=item),
    }


def order_of(order_id: str) -> dict[str, Any]:
    """The order behind a ticket (a stand-in for the shop's order database)."""
    n = int(order_id.split("-")[1]) - 1000
    item, total = _ITEMS[(n * 3) % len(_ITEMS)]
    return {"order_id": order_id, "item": item, "total": total}


def decide(t: dict[str, Any]) -> dict[str, Any]:
    """The scripted model's decision: refund damaged, missing or double-charged orders."""
    refund = any(word in t["message"] for word in _REFUND_WORDS)
    amount = order_of(t["order_id"])["total"] if refund else 0.0
    return {"refund": refund, "amount": amount}


def needs_approval(t: dict[str, Any]) -> bool:
    d = decide(t)
    return bool(d["refund"]) and float(d["amount"]) >= APPROVAL_LIMIT


def approves(t: dict[str, Any]) -> bool:
    """The human's answer: refunds above ``DENY_ABOVE`` are denied."""
    return float(decide(t)["amount"]) <= DENY_ABOVE
