"""The rollout controller survives its executor's SIGKILL mid-rollout: another executor of
the same version resumes it from its last completed step, without repeating a shift. On Cloud
Run's stand-in the resuming process reaches the service from the stored spec alone."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from tether.rollout.memory import MemoryPlatform
from tether.runtime.store.rollouts import RolloutStore
from tether.runtime.store.schema import operations as O

from tests.integration.rollout_helpers import MemoryFaults
from tether import Tether

from .cluster import Cluster

WORKER = Path(__file__).with_name("rollout_worker.py")


@dataclass
class Setup:
    where: str  # the worker's --platform
    old: str  # the version serving (a revision's version is its name on Cloud Run)
    new: str
    shifts: Callable[[], list[dict[str, int]]]


@pytest.fixture(params=["memory", "cloudrun"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    if request.param == "memory":
        path = tmp_path / "platform.json"
        platform = MemoryPlatform("svc", path=path, key="shared")
        platform.deploy("svc-1", version="v1", percent=100)
        platform.deploy("svc-2", version="v2", tag="canary")
        yield Setup(str(path), "v1", "v2", MemoryFaults(platform).shifts)
        return
    from tether.rollout.testing import FakeCloudRun

    from tests.integration.cloud_faults import CloudFaults

    with FakeCloudRun() as fake:
        fake.state.create_service("svc", "svc-1")
        fake.state.deploy("svc", "svc-2", tag="canary")
        fake.state.clear_log()
        yield Setup(
            f"cloudrun:{fake.endpoint}", "svc-1", "svc-2", CloudFaults(fake.state, "svc").shifts
        )


def _spawn(cluster: Cluster, executor_id: str, s: Setup, *extra: str) -> subprocess.Popen:
    argv = [str(WORKER), "--db", cluster.database_url, "--app", cluster.app_name]
    argv += ["--version", s.old, "--executor-id", executor_id, "--platform", s.where, *extra]
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


def test_controller_killed_mid_rollout_resumes_elsewhere(cluster: Cluster, setup: Setup) -> None:
    observer = cluster.observer
    observer.store.migrate()
    observer.store.versions.seen(setup.new)  # the candidate's executors launched once
    rid = "rollout-kill"
    _spawn(cluster, "a", setup, "--start", "svc-2", "--rollout-id", rid, "--bake", "1.5")
    # Kill it once the 50 % shift is checkpointed, during that stage's bake.
    cluster.wait(lambda: len(_applied(observer, rid)) >= 2, 30, "the 50% shift")
    cluster.procs["a"].send_signal(signal.SIGKILL)
    assert cluster.exit_signal("a") == signal.SIGKILL
    rollouts = RolloutStore(observer.store.db, observer.app_name)
    before = rollouts.get(rid)
    assert before is not None and before.state == "running" and before.percent == 50
    _spawn(cluster, "b", setup)
    cluster.wait(
        lambda: (r := rollouts.get(rid)) is not None and r.state == "promoted",
        60,
        "the resumed rollout to promote",
    )
    # The promote's step is checkpointed once the controller has ended.
    cluster.wait(lambda: cluster.finished(rid), 30, "the controller to end")
    assert setup.shifts() == [
        {"svc-1": 90, "svc-2": 10},
        {"svc-1": 50, "svc-2": 50},
        {"svc-2": 100},
    ]
    writers = [w for _, w in _applied(observer, rid)]
    assert writers == ["a", "a", "b", "b"]
    assert [e.key for e in rollouts.events(rid) if e.kind == "shift"] == [
        "0:shift",
        "1:shift",
        "2:shift",
    ]
