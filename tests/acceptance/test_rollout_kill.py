"""The rollout controller survives its executor's SIGKILL mid-rollout: another executor of
the same version resumes it from its last completed step, without repeating a shift."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from sqlalchemy import select
from tether.rollout.memory import MemoryPlatform
from tether.runtime.store.rollouts import RolloutStore
from tether.runtime.store.schema import operations as O

from tether import Tether

from .cluster import Cluster

WORKER = Path(__file__).with_name("rollout_worker.py")


def _spawn(cluster: Cluster, executor_id: str, platform: Path, *extra: str) -> subprocess.Popen:
    argv = [str(WORKER), "--db", cluster.database_url, "--app", cluster.app_name]
    argv += ["--version", "v1", "--executor-id", executor_id, "--platform", str(platform), *extra]
    proc = cluster.processes.python(executor_id, argv).popen
    cluster.procs[executor_id] = proc
    return proc


def _applied(observer: Tether, rid: str) -> list[tuple[int, str | None]]:
    with observer.store.db.read() as conn:
        rows = conn.execute(
            select(O.c.position, O.c.executor_id)
            .where(
                O.c.app_name == observer.app_name,
                O.c.workflow_id == rid,
                O.c.name == "tether.rollout.apply",
            )
            .order_by(O.c.position)
        ).all()
    return [(r.position, r.executor_id) for r in rows]


def test_controller_killed_mid_rollout_resumes_elsewhere(cluster: Cluster, tmp_path: Path) -> None:
    path = tmp_path / "platform.json"
    platform = MemoryPlatform("svc", path=path, key="shared")
    platform.deploy("svc-1", version="v1", percent=100)
    platform.deploy("svc-2", version="v2", tag="canary")
    observer = cluster.observer
    observer.store.migrate()
    observer.store.versions.seen("v2")  # the candidate's executors launched once
    rid = "rollout-kill"
    _spawn(cluster, "a", path, "--start", "svc-2", "--rollout-id", rid, "--bake", "1.5")
    # Kill it once the 50 % shift is checkpointed, during that stage's bake.
    cluster.wait(lambda: len(_applied(observer, rid)) >= 2, 30, "the 50% shift")
    cluster.procs["a"].send_signal(signal.SIGKILL)
    assert cluster.exit_signal("a") == signal.SIGKILL
    rollouts = RolloutStore(observer.store.db, observer.app_name)
    before = rollouts.get(rid)
    assert before is not None and before.state == "running" and before.percent == 50
    _spawn(cluster, "b", path)
    cluster.wait(
        lambda: (r := rollouts.get(rid)) is not None and r.state == "promoted",
        60,
        "the resumed rollout to promote",
    )
    shifts = [c["split"] for c in platform.calls if c["call"] == "set_traffic"]
    assert shifts == [
        {"svc-1": 90, "svc-2": 10},
        {"svc-1": 50, "svc-2": 50},
        {"svc-1": 0, "svc-2": 100},
        {"svc-2": 100},
    ]
    writers = [w for _, w in _applied(observer, rid)]
    assert writers == ["a", "a", "b", "b"]
    assert [e.key for e in rollouts.events(rid) if e.kind == "shift"] == [
        "0:shift",
        "1:shift",
        "2:shift",
    ]
