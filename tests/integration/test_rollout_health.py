"""Health and open work per version, read from real workflows in the database: what rollout
gates and the drain decide on."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from tether.runtime.clock import now_ms
from tether.runtime.records import Status
from tether.runtime.store.health import open_patch_markers, open_work, version_health

from tether import Tether

from .helpers import wait_until
from .rollout_helpers import agent_app


def test_health_per_version(make_app: Callable[..., Tether]) -> None:
    def with_probe(app: Tether) -> None:
        @app.workflow(name="tether.probe")
        def probe() -> None:
            raise RuntimeError("internal")

    v1 = agent_app(make_app, "v1", with_probe)
    v2 = agent_app(make_app, "v2")

    before = now_ms()
    for i in range(3):
        assert v1.start_workflow("work", i).result(timeout=20) == i * 2
    for app, n in ((v1, 1), (v2, 2)):
        for i in range(n):
            with pytest.raises(RuntimeError):
                app.start_workflow("work", i, fail=True).result(timeout=20)
    with pytest.raises(RuntimeError):
        v1.start_workflow("tether.probe").result(timeout=20)
    waiting = v2.start_workflow("waiter")
    wait_until(lambda: v2.list_steps(waiting.workflow_id), 20, "the waiter's marker")
    db, app_name = v1.store.db, v1.app_name

    h1 = version_health(db, app_name, "v1", before, exclude="tether.")
    assert (h1.finished, h1.failed, h1.parked) == (4, 1, 0)
    assert h1.failure_rate == 0.25
    assert h1.step_samples >= 3 and h1.step_p95_ms is not None
    counted = version_health(db, app_name, "v1", before)  # tether's own workflows included
    assert (counted.finished, counted.failed) == (5, 2)
    h2 = version_health(db, app_name, "v2", before, exclude="tether.")
    assert (h2.finished, h2.failed) == (2, 2)
    later = version_health(db, app_name, "v1", now_ms() + 1000, exclude="tether.")
    assert (later.finished, later.step_samples) == (0, 0)  # only since the step began

    assert open_work(db, app_name, exclude="tether.") == {"v2": 1}
    assert open_patch_markers(db, app_name, "v2") == {waiting.workflow_id: ["path-v2"]}

    # A workflow parked by non-determinism counts against its version from then on.
    error = json.dumps({"type": "NondeterminismError", "message": "diverged"})
    with v2.store.db.write() as conn:
        v2.store.workflows.mark(conn, waiting.workflow_id, status=Status.PARKED, error_json=error)
    assert version_health(db, app_name, "v2", before, exclude="tether.").parked == 1
    assert version_health(db, app_name, "v2", now_ms() + 1000).parked == 0
    assert open_work(db, app_name) == {"v2": 1}  # parked work still needs v2's code
