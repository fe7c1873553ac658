"""An executor process that may start a rollout on a file-backed in-memory platform, or on
Cloud Run's stand-in (``--platform`` ``cloudrun:ENDPOINT``, service ``svc``).

    rollout_worker.py --db URL --app NAME --version v1 --executor-id a --platform FILE
                      [--start CANDIDATE --rollout-id ID --bake SECONDS]

It launches, writes ``ready`` to stdout, starts the rollout if asked, then idles until killed.
"""

from __future__ import annotations

import argparse
import faulthandler
import signal
import sys
import time

from tether.rollout.memory import MemoryPlatform
from tether.rollout.platform import Platform

from tether import Tether


def _platform(where: str) -> Platform:
    kind, _, endpoint = where.partition(":")
    if kind == "cloudrun":
        from tether.rollout.cloudrun import CloudRunPlatform

        return CloudRunPlatform(
            project="test-project",
            region="us-central1",
            service="svc",
            endpoint=endpoint,
            retry_delay=0.01,
            poll_interval=0.01,
            operation_timeout=5.0,
        )
    return MemoryPlatform("svc", path=where, key="shared")


def main() -> None:
    p = argparse.ArgumentParser()
    for flag in ("--db", "--app", "--version", "--executor-id", "--platform"):
        p.add_argument(flag, required=True)
    p.add_argument("--start")
    p.add_argument("--rollout-id")
    p.add_argument("--bake", type=float, default=1.0)
    args = p.parse_args()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    app = Tether(
        app_name=args.app,
        database_url=args.db,
        version=args.version,
        executor_id=args.executor_id,
        lease_timeout=1.0,
        heartbeat_interval=0.2,
        recovery_interval=0.05,
        poll_interval=0.05,
        install_signal_handlers=True,
    )
    app.launch()
    print("ready", flush=True)
    if args.start:
        platform = _platform(args.platform)
        app.rollouts.start(
            platform,
            args.start,
            steps=[10, 50, 100],
            bake=args.bake,
            gates={"min_sample": 0},
            rollout_id=args.rollout_id,
            drain_interval=0.1,
        )
    while True:
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
