"""The app that the serving tests run under ``tether serve tests.serve.svc:app``.

Database, app name and version come from the environment (as on Cloud Run); timings are
short. Steps append one JSON line to ``$SVC_EFFECTS`` before their work, outside the
framework, so a step run twice shows up twice; ``gated`` steps wait for ``$SVC_GATE``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import tether
from tether import Tether

app = Tether(
    lease_timeout=2.0,
    heartbeat_interval=0.2,
    recovery_interval=0.1,
    poll_interval=0.05,
    shutdown_grace=float(os.environ.get("SVC_GRACE", "2.0")),
)


def note(event: str, **fields: Any) -> None:
    path = os.environ.get("SVC_EFFECTS")
    if not path:
        return
    line = {"event": event, "executor": app.executor_id, "version": app.version, **fields}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)


@app.step()
def effect(wid: str, index: int, gated: bool) -> int:
    gate = os.environ.get("SVC_GATE")
    while gated and gate and not os.path.exists(gate):
        time.sleep(0.02)
    note("step", wid=wid, index=index)
    return index


@app.workflow(name="echo")
def echo(value: Any, suffix: str = "") -> Any:
    return f"{value}{suffix}" if suffix else value


@app.workflow(name="chain")
def chain(steps: int, gated_from: int = -1) -> list[int]:
    wid = tether.workflow_id()
    return [effect(wid, i, 0 <= gated_from <= i) for i in range(steps)]
