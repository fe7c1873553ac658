"""An executor process that declares versions it is compatible with (``--compatible-with``).

Like ``worker.py`` (same effects file format: ``ready`` and ``step`` lines appended before
each step does its work), with a ``chain`` workflow whose steps from ``--gated-from`` on
wait for the ``--gate`` file, so a test can kill a worker in the middle of a workflow.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import tether
from tether import Tether


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--db", required=True)
    p.add_argument("--app", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--executor-id", required=True)
    p.add_argument("--effects", required=True)
    p.add_argument("--gate", required=True)
    p.add_argument("--compatible-with", action="append", default=[])
    p.add_argument("--lease", type=float, default=1.0)
    p.add_argument("--start", type=int, default=0, help="how many workflows to start")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--gated-from", type=int, default=1)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    fd = os.open(args.effects, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def note(event: str, **fields: Any) -> None:
        line = {"event": event, "executor": args.executor_id, "pid": os.getpid(), **fields}
        os.write(fd, (json.dumps(line) + "\n").encode())

    app = Tether(
        app_name=args.app,
        database_url=args.db,
        version=args.version,
        executor_id=args.executor_id,
        compatible_with=args.compatible_with,
        lease_timeout=args.lease,
        heartbeat_interval=args.lease / 5,
        recovery_interval=0.05,
        poll_interval=0.05,
        install_signal_handlers=True,
    )

    @app.step(name="effect")
    def effect(wid: str, index: int) -> int:
        while index >= args.gated_from and not os.path.exists(args.gate):
            time.sleep(0.02)
        note("step", wid=wid, index=index, version=args.version)
        return index

    @app.workflow(name="chain")
    def chain(steps: int) -> list[int]:
        wid = tether.workflow_id()
        return [effect(wid, i) for i in range(steps)]

    app.launch()
    note("ready")
    for i in range(args.start):
        app.start_workflow(chain, args.steps, workflow_id=f"w-{i}")
    while True:
        time.sleep(0.05)


if __name__ == "__main__":
    main()
