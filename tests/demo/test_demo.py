"""``tether demo --fast`` end to end, both outcomes, checked from the database and the
side-effect log (not from what the demo prints): every request is a finished workflow, no
completed step ran twice, every operation and effect came from its workflow's version, one
v1 process was killed and the other finished its work, and the rollout ended as told."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tether.runtime.store.schema import operations as O
from tether.runtime.store.schema import workflows as W

from tether import Status, Tether

ROOT = Path(__file__).resolve().parents[2]


def run_demo(database_url: str, app_name: str, directory: Path, *extra: str) -> dict[str, Any]:
    argv = [sys.executable, "-m", "tether", "--app", app_name, "--json", "demo", "--fast"]
    argv += ["--database-url", database_url, "--dir", str(directory), *extra]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=240, cwd=directory.parent)
    found = (directory / "platform" / "logs").glob("*")
    logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in found)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{logs}"
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def rows(database_url: str, app_name: str) -> tuple[dict[str, Any], list[Any]]:
    app = Tether(app_name=app_name, database_url=database_url)
    try:
        with app.store.db.read() as conn:
            wfs = {
                r.workflow_id: r
                for r in conn.execute(
                    select(W.c.workflow_id, W.c.status, W.c.version, W.c.output)
                    .add_columns(W.c.completed_at)
                    .where(W.c.app_name == app_name, W.c.name == "refund_agent")
                )
            }
            ops = list(
                conn.execute(
                    select(O.c.workflow_id, O.c.kind, O.c.name, O.c.output)
                    .add_columns(O.c.version, O.c.executor_id)
                    .where(O.c.app_name == app_name, O.c.workflow_id.in_(list(wfs)))
                )
            )
        rollouts = [app.rollouts.get(r.rollout_id) for r in app.rollouts.list()]
    finally:
        app.close()
    return {"workflows": wfs, "rollouts": rollouts}, ops


@pytest.mark.parametrize("bad", [False, True], ids=["promoted", "rolled-back"])
def test_demo(database_url: str, app_name: str, tmp_path: Path, bad: bool) -> None:
    directory = tmp_path / "demo"
    run_demo(database_url, app_name, directory, *(["--bad-release"] if bad else []))
    db, ops = rows(database_url, app_name)
    workflows = db["workflows"]
    effects = [json.loads(x) for x in (directory / "effects.jsonl").read_text().splitlines()]

    # 0 lost: the driver numbers its requests; each one is a workflow, and each finished.
    ids = sorted(workflows)
    assert ids == [f"ticket-{n:04d}" for n in range(len(ids))] and len(ids) > 20
    unfinished = {w: r.status for w, r in workflows.items() if r.status not in Status.TERMINAL}
    assert unfinished == {}

    # 0 run on a version that could not run them: every operation and every effect of a
    # workflow came from an executor of its own version (no version declares compatibility).
    for op in ops:
        wf = workflows[op.workflow_id]
        assert op.version == wf.version and op.executor_id.startswith(wf.version + "-"), op
    for e in effects:
        assert e["version"] == workflows[e["wid"]].version, e

    # 0 completed steps repeated: the checkpointed run of each step is its last line.
    lines: dict[tuple[str, str], list[str]] = defaultdict(list)
    for e in effects:
        lines[(e["wid"], e["step"])].append(e["token"])
    for op in ops:
        if op.kind == "step" and op.output and "token" in (out := json.loads(op.output)):
            assert lines[(op.workflow_id, op.name)][-1] == out["token"], op

    # One v1 process was killed mid-work; the other v1 process finished what it had begun.
    by: dict[str, set[str]] = defaultdict(set)
    for e in effects:
        by[e["wid"]].add(e["executor"])
    taken_over = [w for w, who in by.items() if "v1-1" in who and who - {"v1-1"}]
    assert taken_over and all(by[w] <= {"v1-1", "v1-2"} for w in taken_over)

    # Each version took its own path: v1 the classic one, v2 the fraud screen.
    outputs = [(r.version, json.loads(r.output)) for r in workflows.values() if r.output]
    assert {(v, out["path"]) for v, out in outputs} <= {("v1", "classic"), ("v2", "screened")}

    # The side that lost was retired by the rollout's drain, after its last workflow finished.
    [rollout] = db["rollouts"]
    old = "v2" if bad else "v1"
    last = max(r.completed_at for r in workflows.values() if r.version == old)
    retired = [e.at for e in rollout.events if e.kind in ("retire", "delete")]
    assert len(retired) == 1 and retired[0] >= last

    v2 = [r for r in workflows.values() if r.version == "v2"]
    if bad:
        assert rollout.state == "rolled_back" and "gate failed" in (rollout.reason or "")
        assert any(r.status == Status.ERROR for r in v2)  # the new path failed, on v2
    else:
        assert rollout.state == "promoted"
        assert v2 and all(r.status == Status.SUCCESS for r in v2)
