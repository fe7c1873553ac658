"""An agent service for Cloud Run: the container runs ``tether serve app:app``.

Every revision is a tether version (its ``K_REVISION``), so the traffic split that a rollout
sets *is* the split of new workflows; queued work follows tether's routing, which the rollout
moves with it. On Cloud Run the autoscaler is scheduled too (see ``autoscale_on``).
"""

from __future__ import annotations

import os

from tether.rollout.autoscale import ScalePolicy
from tether.rollout.platform import Platform

import tether
from tether import Tether

# Cloud Run sends SIGTERM, then SIGKILL 10 s later: drain within 8 s. The database URL comes
# from TETHER_DATABASE_URL (a Secret Manager secret on Cloud Run; SQLite locally).
app = Tether(app_name=os.environ.get("TETHER_APP_NAME", "agent"), shutdown_grace=8.0)

# Agents started through the queue run 10 at a time per instance; the autoscaler sizes the
# service from this queue's backlog.
jobs = app.queue("jobs", worker_concurrency=10)


@app.step(retries=3, interval=1.0)
def think(question: str) -> str:
    """Call the model here (an LLM API); a failed attempt is retried with backoff."""
    return f"an answer to {question!r}"


@app.step()
def deliver(answer: str) -> int:
    """Write the answer somewhere (a database, an email, a webhook)."""
    return len(answer)


@app.workflow(name="answer")
def answer(question: str) -> str:
    text = think(question)
    tether.sleep(0)  # durable: a wait here survives the revision being replaced
    deliver(text)
    return text


POLICY = ScalePolicy(
    min_floor=1, max_ceiling=20, per_instance=10, headroom=1.25, scale_in_delay=600
)


def autoscale_on(platform: Platform) -> str:
    """Schedule the autoscaler every minute for ``platform``'s service; returns its name."""
    return app.rollouts.autoscale(platform, POLICY, cron="* * * * *", queues=["jobs"])


if os.environ.get("K_SERVICE"):  # on Cloud Run (project and region from the metadata server)
    from tether.rollout.platforms import make_platform

    autoscale_on(make_platform("cloudrun", service=os.environ["K_SERVICE"]))
