"""The rollout's pure decisions as tables: gate verdicts, splits, retire-or-keep, rollback."""

from __future__ import annotations

import pytest
from tether.rollout.drain import RevisionWork, retire_or_keep
from tether.rollout.gates import verdict
from tether.rollout.plan import Gates
from tether.rollout.rollback import rollback_plan
from tether.rollout.split import Side, default_tag, promote_split, rollback_split, stage_split
from tether.runtime.errors import ConfigurationError
from tether.runtime.store.health import VersionHealth


def h(
    v: str,
    finished: int,
    failed: int = 0,
    parked: int = 0,
    p95: float | None = None,
    samples: int = 0,
) -> VersionHealth:
    return VersionHealth(v, finished, failed, parked, p95, samples)


G = Gates(max_failure_rate=0.1, max_parked=0, max_latency_ratio=2.0, min_sample=10)


@pytest.mark.parametrize(
    ("candidate", "baseline", "outcome", "reason"),
    [
        (h("b", 0, parked=1), None, "fail", "1 workflow(s) of b parked"),  # at any sample
        (h("b", 9), h("a", 100), "wait", "9 of 10 workflows of b finished"),
        (h("b", 10), None, "pass", "b: 10 finished, failure rate 0.0%"),
        (h("b", 10, failed=2), None, "fail", "failure rate of b is 20.0% (2/10), above 10.0%"),
        (h("b", 10, failed=1), None, "pass", "failure rate 10.0%"),  # at the threshold
        # As bad as the baseline: not the candidate's fault.
        (h("b", 10, failed=3), h("a", 20, failed=6), "pass", "failure rate 30.0%"),
        (h("b", 10, failed=5), h("a", 20, failed=6), "fail", "baseline a 30.0%"),
        # A baseline sample too small to compare: the absolute threshold decides.
        (h("b", 10, failed=5), h("a", 5, failed=5), "fail", "above 10.0%"),
        (
            h("b", 10, p95=300, samples=10),
            h("a", 10, p95=100, samples=10),
            "fail",
            "step p95 of b is 300 ms, more than 2x baseline a's 100 ms",
        ),
        (h("b", 10, p95=200, samples=10), h("a", 10, p95=100, samples=10), "pass", ""),
        (h("b", 10, p95=900, samples=3), h("a", 10, p95=100, samples=10), "pass", ""),
    ],
)
def test_gate_verdicts(
    candidate: VersionHealth, baseline: VersionHealth | None, outcome: str, reason: str
) -> None:
    v = verdict(candidate, baseline, G)
    assert v.outcome == outcome
    assert reason in v.reason


def test_latency_gate_can_be_turned_off() -> None:
    gates = Gates(min_sample=1, max_latency_ratio=None)
    slow = verdict(h("b", 5, p95=1e6, samples=5), h("a", 5, p95=1, samples=5), gates)
    assert slow.passed


A, B = Side("svc-1", "v1", "v-v1"), Side("svc-2", "v2", "canary")


@pytest.mark.parametrize(
    ("percent", "traffic", "routing"),
    [
        (0, {"svc-1": 100, "svc-2": 0}, ("v1", None, 0.0)),
        (10, {"svc-1": 90, "svc-2": 10}, ("v1", "v2", 10.0)),
        (100, {"svc-1": 0, "svc-2": 100}, ("v1", "v2", 100.0)),
    ],
)
def test_stage_split_moves_traffic_and_routing_together(
    percent: int, traffic: dict[str, int], routing: tuple[str, str | None, float]
) -> None:
    s = stage_split(A, B, percent)
    assert s.traffic == traffic and sum(s.traffic.values()) == 100
    assert (s.current, s.ramping, s.percent) == routing
    assert s.tags == {"svc-1": "v-v1", "svc-2": "canary"}


def test_promote_and_rollback_splits_keep_the_other_side_tagged() -> None:
    p = promote_split(A, B)
    assert (p.traffic, p.current, p.ramping) == ({"svc-2": 100}, "v2", None)
    r = rollback_split(A, B)
    assert (r.traffic, r.current, r.ramping) == ({"svc-1": 100}, "v1", None)
    assert p.tags == r.tags == {"svc-1": "v-v1", "svc-2": "canary"}


def test_split_refusals_and_tags() -> None:
    with pytest.raises(ConfigurationError, match="already the serving"):
        stage_split(A, Side("svc-1", "v1", "x"), 10)
    with pytest.raises(ConfigurationError, match="different tags"):
        stage_split(A, Side("svc-2", "v2", "v-v1"), 10)
    with pytest.raises(ConfigurationError, match="within 0..100"):
        stage_split(A, B, 101)
    same_version = stage_split(A, Side("svc-3", "v1", "b"), 50)
    assert (same_version.current, same_version.ramping) == ("v1", None)
    assert default_tag("Agent_00002.Def") == "v-agent-00002-def"


def rw(
    percent: int = 0,
    tag: str | None = "old",
    work: int = 0,
    live: int = 1,
    version: str | None = "v1",
) -> RevisionWork:
    return RevisionWork("svc-1", version, percent, tag, work, live)


@pytest.mark.parametrize(
    ("rev", "kwargs", "action"),
    [
        (rw(percent=10), {}, "serving"),
        (rw(), {"protected": frozenset({"svc-1"})}, "in-rollout"),
        (rw(version=None), {}, "unknown"),
        (rw(work=3), {}, "keep-warm"),
        (rw(work=3, live=0), {}, "wake"),
        (rw(work=3, tag=None), {}, "tag"),
        (rw(), {}, "retire"),
        (rw(), {"delete": True}, "delete"),
        (rw(tag=None), {}, "idle"),
        # Near the revision cap: drained ones are deleted to keep room...
        (rw(), {"revision_count": 990}, "delete"),
        (rw(tag=None), {"revision_count": 1000}, "delete"),
        # ...and one with open work is never retired or deleted, even at the cap.
        (rw(work=1), {"revision_count": 1000, "delete": True}, "keep-warm"),
        (rw(work=1, live=0), {"revision_count": 1000}, "wake"),
        (rw(work=1, tag=None), {"revision_count": 1000}, "tag"),
    ],
)
def test_retire_or_keep(rev: RevisionWork, kwargs: dict[str, object], action: str) -> None:
    d = retire_or_keep(rev, **kwargs)  # type: ignore[arg-type]
    assert d.action == action, d.reason
    assert d.keeps == (action not in ("retire", "delete"))
    if rev.open_work:
        assert d.keeps


def test_cap_reason_says_why_the_tag_matters() -> None:
    d = retire_or_keep(rw(work=2), revision_count=999)
    assert "999 of 1000 revisions" in d.reason and "keep it tagged" in d.reason


@pytest.mark.parametrize(
    ("open_candidate", "runs", "stay", "risky"),
    [
        ({}, False, (), ()),
        ({"w1": ["p-new"], "w2": []}, False, ("w1", "w2"), ()),
        # The baseline's executors would take them: those with unknown markers are at risk.
        ({"w1": ["p-new"], "w2": ["p-old"]}, True, ("w1", "w2"), ("w1",)),
    ],
)
def test_rollback_plan_keeps_candidate_work_on_the_candidate(
    open_candidate: dict[str, list[str]],
    runs: bool,
    stay: tuple[str, ...],
    risky: tuple[str, ...],
) -> None:
    plan = rollback_plan(
        A, B, open_candidate, baseline_patches=["p-old"], baseline_runs_candidate=runs
    )
    assert plan.stay_on_candidate == stay
    assert plan.at_risk == risky
    assert plan.keep_candidate == bool(stay)
    assert plan.split.traffic == {"svc-1": 100}
    assert plan.split.tags["svc-2"] == "canary"
    if risky:
        assert "compatible_with" in plan.reason
