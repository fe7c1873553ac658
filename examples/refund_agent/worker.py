"""One worker process: launch the refund agent app, optionally start the tickets, then serve.

    TETHER_DATABASE_URL=sqlite:///tether.db python -m examples.refund_agent.worker --start

It serves until a signal ends it: SIGTERM drains (steps in flight finish, leases are released
so peers take over at once); SIGKILL is a crash, and peers take over when the lease expires.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal

from examples.refund_agent.agent import TICKETS, app, refund_agent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", action="store_true", help="start one agent per ticket")
    args = parser.parse_args(argv)
    label = os.environ.get("TETHER_EXECUTOR_ID", f"pid {os.getpid()}")
    logging.basicConfig(level=logging.WARNING, format=f"   [{label}] %(message)s")
    logging.getLogger("refund_agent").setLevel(logging.INFO)

    app.launch()
    if args.start:
        for ticket in TICKETS:
            # The id is the idempotency key: starting the same ticket again is a no-op.
            app.start_workflow(refund_agent, ticket, workflow_id=f"refund-{ticket['order_id']}")
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
