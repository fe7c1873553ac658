"""A refund workflow at three releases, whose recorded histories are committed next to it.

- v1: look the order up, wait for approval, refund, send a receipt (a child workflow).
- v2: adds a fraud check, guarded by ``tether.patch("fraud-check")`` so v1 runs keep going.
- ``change="deprecated"`` / ``"removed"``: the next lifecycle steps, taken too early (the
  mistakes a replay of the committed histories catches in CI).

``histories/`` holds runs exported from v1 and v2 (see make_histories.py); test_golden.py
replays them against this code. The module-level ``app`` is what ``tether replay --module
tests.replay.shop:app`` imports (configured from TETHER_* and SHOP_* environment variables).
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import tether
from tether import Tether

CURRENT = "v2"


def make(*, version: str = CURRENT, change: str | None = None, **settings: Any) -> Tether:
    settings.setdefault("app_name", os.environ.get("TETHER_APP_NAME") or "shop")
    settings.setdefault("install_signal_handlers", False)
    app = Tether(version=version, **settings)

    @app.step(name="lookup_order")
    def lookup_order(order_id: str) -> dict[str, Any]:
        return {"order_id": order_id, "total": 49.9, "placed": dt.date(2030, 1, 2)}

    @app.step(name="fraud_check")
    def fraud_check(order: dict[str, Any]) -> float:
        return 0.9 if order["order_id"].endswith("-x") else 0.1

    @app.step(name="issue_refund")
    def issue_refund(order: dict[str, Any]) -> str:
        return f"rf-{order['order_id']}"

    @app.step(name="send_email")
    def send_email(order_id: str, text: str) -> None:
        return None

    @app.workflow(name="receipt")
    def receipt(order_id: str, refund_id: str) -> str:
        send_email(order_id, f"refunded: {refund_id}")
        return refund_id

    @app.workflow(name="refund_order")
    def refund_order(order_id: str) -> dict[str, Any]:
        order = lookup_order(order_id)
        if version == "v1":
            risky = False
        elif change == "removed":  # the gate dropped: v1 and v2 runs both diverge
            risky = fraud_check(order) > 0.5
        elif change == "deprecated":  # too early while v1 runs are around: they diverge
            tether.deprecate_patch("fraud-check")
            risky = fraud_check(order) > 0.5
        elif tether.patch("fraud-check"):
            risky = fraud_check(order) > 0.5
        else:  # runs that passed here on v1
            risky = False
        if risky:
            return {"status": "refused", "order": order}
        tether.set_event("stage", "awaiting approval")
        if not tether.recv("approval", timeout=3600):
            return {"status": "expired"}
        refund_id = issue_refund(order)
        sent = receipt(order_id, refund_id)
        tether.sleep(0.01)
        return {"status": "refunded", "refund_id": refund_id, "receipt": sent}

    return app


app = make(version=os.environ.get("SHOP_VERSION", CURRENT), change=os.environ.get("SHOP_CHANGE"))
