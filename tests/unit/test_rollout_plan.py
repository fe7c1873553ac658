"""Rollout plans: stages from steps, bakes and approvals; bad plans refused before anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tether.rollout.plan import Gates, Plan, Stage, load_plan_file, make_plan, seconds
from tether.runtime.errors import ConfigurationError


@pytest.mark.parametrize(
    ("kwargs", "stages"),
    [
        ({}, [(0, 10, 300.0, False), (1, 50, 300.0, False), (2, 100, 300.0, False)]),
        ({"steps": [100], "bake": 0}, [(0, 100, 0.0, False)]),
        (
            {"steps": [5, 100], "bake": ["1m", "90s"], "approve_at": [100]},
            [(0, 5, 60.0, False), (1, 100, 90.0, True)],
        ),
        ({"steps": [25, 100], "bake": "250ms"}, [(0, 25, 0.25, False), (1, 100, 0.25, False)]),
    ],
)
def test_plan_stages(kwargs: dict[str, Any], stages: list[tuple[int, int, float, bool]]) -> None:
    plan = make_plan("rev-2", **kwargs)
    assert plan.stages == tuple(Stage(*s) for s in stages)
    assert Plan.from_dict(plan.to_dict()) == plan


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": [10, 50]}, "must end at 100"),
        ({"steps": []}, "must end at 100"),
        ({"steps": [50, 10, 100]}, "strictly increase"),
        ({"steps": [0, 100]}, "within 1..100"),
        ({"bake": [1, 2]}, "one or one each"),
        ({"bake": "soon"}, "not a duration"),
        ({"bake": -1}, ">= 0"),
        ({"approve_at": [30]}, "names no step"),
        ({"gates": {"max_failure_rate": 2}}, "within 0..1"),
        ({"gates": {"max_error": 0.1}}, "unknown gate settings"),
        ({"gates": {"on_insufficient": "ignore"}}, "on_insufficient"),
    ],
)
def test_bad_plans_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make_plan("rev-2", **kwargs)


def test_durations() -> None:
    assert [seconds(v) for v in (3, "3", "3s", "2m", "1h", "500ms", 0.5)] == [
        3.0,
        3.0,
        3.0,
        120.0,
        3600.0,
        0.5,
        0.5,
    ]


def test_plan_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.toml"
    path.write_text(
        '[rollout]\ncandidate = "agent-00002"\nsteps = [20, 100]\nbake = "2m"\n'
        'approve_at = [100]\n[rollout.gates]\nmax_failure_rate = 0.01\nmax_wait = "5m"\n'
        '[platform]\nkind = "cloudrun"\nproject = "p"\nregion = "r"\nservice = "agent"\n'
    )
    plan, platform = load_plan_file(path)
    assert [s.percent for s in plan.stages] == [20, 100]
    assert plan.stages[1].approve and plan.stages[0].bake == 120.0
    assert plan.gates == Gates(max_failure_rate=0.01, max_wait=300.0)
    assert platform == {"kind": "cloudrun", "project": "p", "region": "r", "service": "agent"}
    path.write_text('[rollout]\ncandidate = "x"\nstep = [100]\n')
    with pytest.raises(ConfigurationError, match="unknown \\[rollout\\] settings"):
        load_plan_file(path)
