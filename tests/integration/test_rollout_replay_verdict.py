"""The replay check's verdict on the baseline's open work is shown by ``tether rollout status``:
it drains on its revision unless the candidate declares ``compatible_with``."""

from __future__ import annotations

import json
from collections.abc import Callable

from click.testing import CliRunner

from tether import Tether
from tether.cli import cli

from .helpers import wait_until
from .rollout_helpers import FAST_DRAIN, NEW, service

NO_SAMPLE = {"min_sample": 0}


def test_status_shows_what_happens_to_the_old_work(
    make_app: Callable[..., Tether], database_url: str, app_name: str
) -> None:
    s = service(make_app)
    old = s.v1.start_workflow("waiter")
    wait_until(lambda: s.v1.list_steps(old.workflow_id), 20, "the waiter to start")
    # Run by the candidate's code, the controller replays v1's open waiter on v2: it diverges.
    h = s.v2.rollouts.start(s.platform, NEW, steps=[100], bake=0, gates=NO_SAMPLE, **FAST_DRAIN)
    assert h.wait(30).outcome == "promoted"
    verdict = h.status().replay
    assert verdict is not None and verdict.startswith("v1's open workflows drain on its revision")
    assert "1 of 1 sampled diverge on v2, which must not declare compatible_with=['v1']" in verdict

    def status(*args: str) -> str:
        full = ["--database-url", database_url, "--app", app_name, *args]
        result = CliRunner().invoke(cli, full, env={"COLUMNS": "400"})
        assert result.exit_code == 0, (result.output, result.exception)
        return result.stdout

    assert json.loads(status("--json", "rollout", "status", h.rollout_id))["replay"] == verdict
    row = next(
        ln for ln in status("rollout", "status", h.rollout_id).splitlines() if "old work" in ln
    )
    assert "v1's open workflows drain on its revision" in row
    # Run by code other than the candidate's, it cannot replay: the same rule, unchecked.
    s.v1.send(old.workflow_id, "go", "go")
    old.result(timeout=20)
    back = s.v2.rollouts.start(
        s.platform, "svc-1", rollout_id="back", steps=[100], bake=0, gates=NO_SAMPLE
    )
    assert back.wait(30).outcome == "promoted"
    assert back.status().replay == (
        "v2's open workflows drain on its revision unless v1 declares "
        "compatible_with=['v2'] (replay not possible here: the controller runs 'v2', not the "
        "candidate)"
    )
