"""The rollout controller: a durable tether workflow that performs what the pure decisions
say, so a rollout survives its executor's death and resumes from its last completed step.

    begin (lock the service) → prepare (candidate ready, versions known) → replay check →
    for each stage: [approval] → shift traffic + routing → bake → gate → ...
    → promote (or roll back) → hand the drain of the old side to a workflow of the version
    now current: keep it tagged/warm, wake it, then retire it once its open work is gone

Control messages (``pause``, ``resume``, ``approve``, ``promote``, ``abort``) arrive on
``CONTROL``; a bake listens for them, so a pause or an abort acts within a poll interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from tether.runtime import primitives
from tether.runtime.clock import now_ms
from tether.runtime.errors import NondeterminismError
from tether.runtime.registry import Registry

from .actions import CONTROLLER, DRAINER, Actions
from .plan import Plan
from .split import Side, promote_split, stage_split

CONTROL = "tether.rollout.control"
ACTIONS = ("pause", "resume", "approve", "promote", "abort")
# How a rollout paused at an approval point says so (its reason starts with it).
AWAITING_APPROVAL = "waiting for approval"
GATE_POLL = 5.0  # seconds between health reads while waiting for the minimum sample


class _Outcome(Exception):
    """Ends the stages early: ``promote`` now, or ``abort`` (roll back)."""

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(reason)
        self.action = action
        self.reason = reason


def register(registry: Registry, actions: Actions) -> Callable[..., Any]:
    """Register the controller workflow and its steps; returns the workflow."""

    def step(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        return registry.add_step(
            fn,
            name=f"{CONTROLLER}.{name}",
            retries=3,
            backoff=2.0,
            interval=0.5,
            max_interval=10.0,
            retry_on=(OSError, ConnectionError, TimeoutError),
        )

    begin = step(actions.begin, "begin")
    prepare = step(actions.prepare, "prepare")
    replay = step(actions.replay_check, "replay")
    apply = step(actions.apply, "apply")
    health = step(actions.health, "health")
    record = step(actions.record, "record")
    rollback = step(actions.rollback, "rollback")
    drain = step(actions.drain, "drain")
    finish = step(actions.finish, "finish")
    start_drain = step(actions.start_drain, "handoff")
    clock = step(now_ms, "clock")

    def wait(rid: str, until_ms: int | None, paused: bool) -> str | None:
        """Listen for control messages until ``until_ms`` (None: until one arrives that
        ends a pause). Returns "promote"/"abort"/"approve" when told, else None."""
        while True:
            if paused:
                msg = primitives.recv(CONTROL)
            else:
                left = None if until_ms is None else (until_ms - clock()) / 1000
                if left is not None and left <= 0:
                    return None
                msg = primitives.recv(CONTROL, timeout=left)
                if msg is None:
                    return None
            action = msg.get("action") if isinstance(msg, dict) else None
            by = msg.get("by") if isinstance(msg, dict) else None
            if action == "pause" and not paused:
                record(
                    rid,
                    f"msg:{clock()}",
                    "pause",
                    {"by": by},
                    state="paused",
                    reason=f"paused by {by}",
                )
                paused = True
            elif action == "resume" and paused:
                record(rid, f"msg:{clock()}", "resume", {"by": by}, state="running", reason=None)
                paused = False
                if until_ms is None:
                    return None
            elif action in ("promote", "abort", "approve"):
                if paused:
                    record(rid, f"msg:{clock()}", action, {"by": by}, state="running")
                return str(action)

    def shift(
        rid: str, key: str, split: dict[str, Any], spec: dict[str, Any], row: dict[str, Any]
    ) -> int:
        """Apply a split; when the platform refuses, stay paused until resumed, then retry."""
        attempt = 0
        while True:
            done = apply(rid, key if attempt == 0 else f"{key}#{attempt}", split, spec, row)
            if "at" in done:
                return int(done["at"])
            told = wait(rid, None, paused=True)
            if told in ("promote", "abort"):
                raise _Outcome(told, f"{told} requested")
            attempt += 1

    def roll_back(rid: str, sides: dict[str, Any], reason: str, spec: dict[str, Any]) -> None:
        while "error" in rollback(rid, sides["baseline"], sides["candidate"], reason, spec):
            wait(rid, None, paused=True)  # whatever is asked, rolling back comes first

    def controller(
        rid: str,
        service: str,
        plan_data: dict[str, Any],
        spec: dict[str, Any],
        options: dict[str, Any],
    ) -> dict[str, Any]:
        try:
            return run(rid, service, plan_data, spec, options)
        except NondeterminismError:
            raise
        except Exception as exc:  # a bug or an unexpected refusal: say so, free the service
            reason = f"the controller failed: {type(exc).__name__}: {exc}"
            record(rid, "crashed", "failed", {"error": reason}, state="failed", reason=reason)
            finish(rid, service)
            raise

    def run(
        rid: str,
        service: str,
        plan_data: dict[str, Any],
        spec: dict[str, Any],
        options: dict[str, Any],
    ) -> dict[str, Any]:
        plan = Plan.from_dict(plan_data)
        holder = begin(rid, service, plan_data, spec)
        if holder != rid:
            reason = f"rollout {holder!r} is already in progress on {service!r}"
            record(rid, "refused", "refused", {"holder": holder}, state="refused", reason=reason)
            return {"outcome": "refused", "reason": reason}
        sides = prepare(rid, plan_data, spec)
        if "error" in sides:
            record(rid, "failed", "failed", sides, state="failed", reason=sides["error"])
            finish(rid, service)
            return {"outcome": "failed", "reason": sides["error"]}
        base, cand = Side(**sides["baseline"]), Side(**sides["candidate"])
        replay(rid, base.version, cand.version, int(options.get("replay_sample", 20)))
        started = clock()
        try:
            for stage in plan.stages:
                if stage.approve:
                    record(
                        rid,
                        f"{stage.index}:await",
                        "await-approval",
                        {"percent": stage.percent},
                        state="paused",
                        reason=f"{AWAITING_APPROVAL} to shift to {stage.percent}%",
                    )
                    told = wait(rid, None, paused=True)
                    if told in ("promote", "abort"):
                        raise _Outcome(told, f"{told} requested")
                split = stage_split(base, cand, stage.percent)
                since = shift(
                    rid,
                    f"{stage.index}:shift",
                    split.to_dict(),
                    spec,
                    {
                        "stage": stage.index,
                        "percent": stage.percent,
                        "state": "running",
                        "reason": None,
                    },
                )
                told = wait(rid, since + int(stage.bake * 1000), paused=False)
                if told in ("promote", "abort"):
                    raise _Outcome(told, f"{told} requested")
                gate_deadline = clock() + int(plan.gates.max_wait * 1000)
                while True:
                    v = health(
                        rid,
                        f"{stage.index}:gate",
                        cand.version,
                        base.version,
                        since,
                        started,
                        plan_data["gates"],
                    )
                    if v["outcome"] == "fail":
                        raise _Outcome("abort", f"gate failed at {stage.percent}%: {v['reason']}")
                    if v["outcome"] == "pass":
                        break
                    now = clock()
                    if now >= gate_deadline:
                        if plan.gates.on_insufficient == "pass":
                            break
                        record(
                            rid,
                            f"{stage.index}:insufficient",
                            "insufficient",
                            v,
                            state="paused",
                            reason=f"{v['reason']} after {plan.gates.max_wait:g}s: "
                            "resume to continue, promote or abort",
                        )
                        told = wait(rid, None, paused=True)
                        if told in ("promote", "abort"):
                            raise _Outcome(told, f"{told} requested")
                        break
                    told = wait(rid, min(gate_deadline, now + int(GATE_POLL * 1000)), False)
                    if told in ("promote", "abort"):
                        raise _Outcome(told, f"{told} requested")
        except _Outcome as end:
            if end.action == "abort":
                roll_back(rid, sides, end.reason, spec)
                finish(rid, service)
                hand_off(rid, base.version, cand, [], spec, options)
                return {"outcome": "rolled_back", "reason": end.reason}
        promoted = {"state": "promoted", "percent": 100, "reason": f"{cand.revision} serves 100%"}
        while True:
            try:
                shift(rid, "promote", promote_split(base, cand).to_dict(), spec, promoted)
                break
            except _Outcome as end:  # the promotion was refused; then told what to do
                if end.action == "abort":
                    roll_back(rid, sides, end.reason, spec)
                    finish(rid, service)
                    hand_off(rid, base.version, cand, [], spec, options)
                    return {"outcome": "rolled_back", "reason": end.reason}
        finish(rid, service)
        hand_off(rid, cand.version, base, [cand.revision], spec, options)
        return {"outcome": "promoted", "reason": f"{cand.revision} serves 100%"}

    def hand_off(
        rid: str,
        current: str,
        side: Side,
        protected: list[str],
        spec: dict[str, Any],
        options: dict[str, Any],
    ) -> None:
        """Leave the drain of ``side`` to a workflow of the version now current, whose
        executors stay alive (this controller's own version may be the one draining)."""
        start_drain(rid, current, (rid, asdict(side), protected, spec, options))

    def drain_loop(
        rid: str,
        side: dict[str, Any],
        protected: list[str],
        spec: dict[str, Any],
        options: dict[str, Any],
    ) -> dict[str, Any]:
        """Keep the old side tagged and woken while it has open work; then retire it."""
        interval = float(options.get("drain_interval", 30.0))
        delete = bool(options.get("delete_retired", False))
        n = 0
        while True:
            d = drain(rid, f"drain:{side['revision']}:{n}", side, protected, spec, delete)
            if d["done"]:
                return dict(d)
            n += 1
            primitives.sleep(interval)

    registry.add_workflow(drain_loop, name=DRAINER, max_recovery_attempts=1000)
    return registry.add_workflow(controller, name=CONTROLLER, max_recovery_attempts=1000)
