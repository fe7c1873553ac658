"""The demo's three invariants as tables over rows, and the replay verdict's wording."""

from __future__ import annotations

import json

import pytest
from tether.versioning.replay import ReplayResult

from tether.demo.invariants import (
    Effect,
    OperationRow,
    WorkflowRow,
    check,
    lost,
    repeated,
    reruns,
    wrong_version,
)
from tether.demo.replaycheck import summarize


def wf(wid: str, status: str = "SUCCESS", version: str = "v1") -> WorkflowRow:
    return WorkflowRow(wid, status, version)


def op(wid: str, name: str, token: str | None, version: str = "v1", pos: int = 0) -> OperationRow:
    output = None if token is None else json.dumps({"token": token})
    return OperationRow(wid, pos, "step", name, output, version, f"{version}-1")


def fx(wid: str, step: str, token: str, version: str = "v1", executor: str = "") -> Effect:
    return Effect(wid, step, token, executor or f"{version}-1", version)


LOST = [
    # requested, workflows, lost ids
    (["a"], {"a": wf("a")}, []),
    (["a"], {"a": wf("a", "ERROR")}, []),  # a failed agent finished: it is not lost
    (["a"], {}, ["a"]),  # the request never became a workflow
    (["a"], {"a": wf("a", "PENDING")}, ["a"]),  # never finished
    (["a"], {"a": wf("a", "ENQUEUED")}, ["a"]),
    (["a", "a"], {"a": wf("a")}, []),  # a retried request is one agent
]


@pytest.mark.parametrize(("requested", "workflows", "expected"), LOST)
def test_lost(requested: list[str], workflows: dict[str, WorkflowRow], expected: list[str]) -> None:
    assert [v.workflow_id for v in lost(requested, workflows)] == expected


REPEATED = [
    # effects in log order, checkpoints (step, token), repeated count, reruns allowed
    ([fx("w", "pay", "t1")], [("pay", "t1")], 0, 0),
    # cut off before its checkpoint (a kill), run again: the first run had not completed
    ([fx("w", "pay", "t0"), fx("w", "pay", "t1")], [("pay", "t1")], 0, 1),
    # ran again after its checkpoint: a completed step repeated
    ([fx("w", "pay", "t1"), fx("w", "pay", "t2")], [("pay", "t1")], 1, 0),
    ([fx("w", "pay", "t0"), fx("w", "pay", "t1"), fx("w", "pay", "t2")], [("pay", "t1")], 1, 1),
    # a checkpoint whose effect is not in the log: the log and the database disagree
    ([], [("pay", "t1")], 1, 0),
    # a step that failed has no checkpointed token: nothing to compare
    ([fx("w", "screen", "t1")], [("screen", None)], 0, 0),
    # other steps and other workflows do not count against each other
    ([fx("w", "pay", "t1"), fx("x", "pay", "t9"), fx("w", "mail", "t2")], [("pay", "t1")], 0, 0),
]


@pytest.mark.parametrize(("effects", "checkpoints", "count", "allowed"), REPEATED)
def test_repeated(
    effects: list[Effect], checkpoints: list[tuple[str, str | None]], count: int, allowed: int
) -> None:
    ops = [op("w", step, token, pos=i) for i, (step, token) in enumerate(checkpoints)]
    assert len(repeated(effects, ops)) == count
    assert reruns(effects, ops) == allowed


def test_a_non_step_operation_carries_no_token() -> None:
    recv = OperationRow("w", 0, "recv", "approval", json.dumps({"token": "t"}), "v1", "v1-1")
    assert repeated([], [recv]) == []


WRONG = [
    # operation's version, effect's version, workflow's version, runnable map, violations
    ("v1", "v1", "v1", {}, 0),
    ("v2", "v1", "v1", {}, 1),  # recorded by a v2 executor
    ("v1", "v2", "v1", {}, 1),  # the side effect came from a v2 process
    ("v2", "v2", "v1", {}, 2),
    ("v2", "v2", "v1", {"v2": frozenset({"v1", "v2"})}, 0),  # v2 declares compatible_with v1
    ("v1", "v1", "v2", {"v1": frozenset({"v1"})}, 2),
]


@pytest.mark.parametrize(("op_version", "fx_version", "wf_version", "runnable", "count"), WRONG)
def test_wrong_version(
    op_version: str,
    fx_version: str,
    wf_version: str,
    runnable: dict[str, frozenset[str]],
    count: int,
) -> None:
    found = wrong_version(
        [fx("w", "pay", "t", fx_version)],
        [op("w", "pay", "t", op_version)],
        {"w": wf("w", version=wf_version)},
        runnable,
    )
    assert len(found) == count


def test_check_gathers_the_three() -> None:
    verdict = check(
        ["a", "b"],
        {"a": wf("a")},
        [op("a", "pay", "t1")],
        [fx("a", "pay", "t1"), fx("a", "pay", "t2", "v2")],
        {},
    )
    assert not verdict.ok
    assert {k: len(v) for k, v in verdict.violations.items()} == {
        "lost": 1,
        "repeated": 1,
        "wrong version": 1,
    }
    assert check(["a"], {"a": wf("a")}, [op("a", "pay", "t1")], [fx("a", "pay", "t1")], {}).ok


def result(outcome: str, gate: bool | None = None) -> ReplayResult:
    taken = {} if gate is None else {"fraud-screen": gate}
    return ReplayResult("w", "refund_agent", "v1", outcome, patches_taken=taken)


REPLAY = [
    ([], True, "no open v1 workflow"),
    ([result("passed", False), result("passed", True), result("passed")], True, "all 3"),
    ([result("passed", False), result("diverged")], False, "1 of 2 open v1 workflows diverge"),
]


@pytest.mark.parametrize(("results", "may_run", "says"), REPLAY)
def test_replay_verdict(results: list[ReplayResult], may_run: bool, says: str) -> None:
    verdict = summarize(results, "v1", "v2")
    assert verdict.may_run is may_run
    assert says in verdict.text
    if results and may_run:
        assert (verdict.old_path, verdict.new_path) == (1, 1)
        assert "stay tethered to v1" in verdict.text
