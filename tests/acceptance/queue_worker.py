"""A tether executor process that dequeues from queue ``q`` (and optionally runs a schedule).

Its workflow ``job(item, hold)`` runs one step that appends a ``begin`` effect line, holds
for ``hold`` seconds, then appends ``end``; a scheduled workflow ``tick`` appends ``tick``.
Lines go to the effects file with ``O_APPEND`` in one write each, outside the framework, so
what ran where and when is known whatever the database says. Idles until killed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import faulthandler
import json
import os
import signal
import time
from typing import Any

import tether
from tether import Tether


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--db", required=True)
    p.add_argument("--app", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--executor-id", required=True)
    p.add_argument("--effects", required=True)
    p.add_argument("--concurrency", type=int)
    p.add_argument("--worker-concurrency", type=int)
    p.add_argument("--schedule", help="cron of the `tick` schedule")
    p.add_argument("--lease", type=float, default=1.0)
    args = p.parse_args()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    fd = os.open(args.effects, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def note(event: str, **fields: Any) -> None:
        line = {"event": event, "executor": args.executor_id, "t": time.time(), **fields}
        os.write(fd, (json.dumps(line) + "\n").encode())

    app = Tether(
        app_name=args.app,
        database_url=args.db,
        version=args.version,
        executor_id=args.executor_id,
        lease_timeout=args.lease,
        heartbeat_interval=0.2,
        recovery_interval=0.05,
        poll_interval=0.05,
        install_signal_handlers=False,
    )
    app.queue("q", concurrency=args.concurrency, worker_concurrency=args.worker_concurrency)

    @app.step()
    def hold(wid: str, item: Any, seconds: float) -> Any:
        note("begin", item=item, wid=wid)
        time.sleep(seconds)
        note("end", item=item, wid=wid)
        return item

    @app.workflow(name="job")
    def job(item: Any, seconds: float = 0.0) -> Any:
        return hold(tether.workflow_id(), item, seconds)

    if args.schedule:

        @app.scheduled(args.schedule)
        @app.workflow(name="tick")
        def tick(at: dt.datetime) -> None:
            note("tick", at=at.isoformat(), wid=tether.workflow_id())

    app.launch()
    note("ready")
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
