"""An executor process that may start a rollout on a file-backed in-memory platform.

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

from tether import Tether


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
        platform = MemoryPlatform("svc", path=args.platform, key="shared")
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
