"""A FastAPI service that also runs tether: its own routes plus tether's under ``/tether``.

    pip install 'tether' fastapi
    TETHER_DATABASE_URL=sqlite:///shop.db uvicorn examples.fastapi_app.main:api --port 8080

    curl -X POST localhost:8080/orders/A-1/refund            # the team's own endpoint
    curl localhost:8080/tether/healthz                        # tether's endpoints
    curl -X POST localhost:8080/tether/workflows/refund -d '{"args": ["A-1"]}'
    curl localhost:8080/tether/workflows/<workflow_id>

tether's lifespan launches the executor when the server starts and drains it on shutdown
(and on SIGTERM, as Cloud Run sends it). A FastAPI app with a lifespan of its own combines
both: ``async with tether_lifespan(app_): yield`` inside it.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI

from tether import Tether
from tether.asgi import lifespan, router

app = Tether(app_name=os.environ.get("TETHER_APP_NAME", "shop"))


@app.step()
def issue_refund(order_id: str) -> dict[str, Any]:
    return {"order_id": order_id, "refunded": True}  # the payment provider would be called here


@app.workflow(name="refund")
def refund(order_id: str) -> dict[str, Any]:
    return issue_refund(order_id)


api = FastAPI(lifespan=lifespan(app))
api.mount("/tether", router(app))


@api.post("/orders/{order_id}/refund")
def refund_order(order_id: str) -> dict[str, Any]:
    """The team's own endpoint starts a durable workflow; the id makes a retry the same run."""
    handle = app.start_workflow(refund, order_id, workflow_id=f"refund-{order_id}")
    return {"workflow_id": handle.workflow_id, "version": app.version}
