"""The controller's steps: each reads or changes the platform, routing or the database once,
and records what it decided. The workflow (``controller``) strings them together; the
decisions themselves are the pure functions of ``plan``, ``gates``, ``split``, ``drain`` and
``rollback``. Every action is idempotent, so a step re-run after a crash changes nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from tether.runtime.clock import now_ms
from tether.runtime.engine import encode_inputs
from tether.runtime.records import Status
from tether.runtime.routing_store import set_routing
from tether.runtime.store import Store
from tether.runtime.store.health import open_patch_markers, open_work, version_health
from tether.runtime.store.rollouts import RolloutStore

from . import drain as draining
from .gates import verdict
from .plan import Gates
from .platform import Platform, PlatformError
from .platforms import open_platform
from .rollback import rollback_plan
from .sides import choose_sides
from .split import Side, Split

CONTROLLER = "tether.rollout"
DRAINER = "tether.rollout.drain"
AUTOSCALER = "tether.autoscale"
INTERNAL = "tether."  # the name prefix of tether's own workflows
ACTOR = "tether rollout"


class Actions:
    """What the controller does, bound to one app's store."""

    def __init__(
        self,
        store: Callable[[], Store],
        *,
        lease_timeout_ms: Callable[[], int],
        code_version: Callable[[], str],
        replay_many: Callable[[str, int], list[Any]],
    ) -> None:
        self._store = store
        self._lease_ms = lease_timeout_ms
        self._code_version = code_version
        self._replay_many = replay_many

    @property
    def store(self) -> Store:
        return self._store()

    @property
    def rollouts(self) -> RolloutStore:
        return RolloutStore(self.store.db, self.store.app_name)

    def record(self, rid: str, key: str, kind: str, detail: dict[str, Any], **row: Any) -> None:
        self.rollouts.record(rid, key, kind, detail)
        if row:
            self.rollouts.update(rid, **row)

    # -- before the first shift ---------------------------------------------------------------

    def begin(self, rid: str, service: str, plan: dict[str, Any], spec: dict[str, Any]) -> str:
        """Create the rollout's row and take the service's lock; returns the lock's holder."""
        rollouts = self.rollouts
        rollouts.create(rid, service=service, candidate=plan["candidate"], plan=plan, platform=spec)
        holder = rollouts.lock(service, rid)
        if holder != rid:
            held = rollouts.get(holder)
            if held is None or held.state not in ("running", "paused"):
                rollouts.unlock(service, holder)  # a finished rollout's stale lock
                holder = rollouts.lock(service, rid)
        return holder

    def prepare(self, rid: str, plan: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
        """The two sides of the rollout, or why it cannot start (nothing is changed then)."""
        state = open_platform(spec).describe()
        chosen = choose_sides(state, plan["candidate"], self.store.versions.list())
        if isinstance(chosen, str):
            return {"error": chosen}
        base, cand = chosen
        sides = {"baseline": asdict(base), "candidate": asdict(cand)}
        self.record(
            rid, "prepare", "prepare", sides, baseline=base.revision, candidate=cand.revision
        )
        return sides

    def replay_check(self, rid: str, baseline: str, candidate: str, sample: int) -> dict[str, Any]:
        """Replay a sample of the baseline's open workflows on the candidate's code, when this
        process runs it; the verdict says whether the candidate could run them too."""
        code = self._code_version()
        if code != candidate:
            out: dict[str, Any] = {
                "possible": False,
                "compatible": False,
                "reason": f"{baseline}'s open workflows drain on its revision unless "
                f"{candidate} declares compatible_with=[{baseline!r}] (replay not possible "
                f"here: the controller runs {code!r}, not the candidate)",
            }
        else:
            results = self._replay_many(baseline, sample)
            bad = [r.summary() for r in results if not r.passed]
            out = {
                "possible": True,
                "compatible": not bad,
                "sample": len(results),
                "reason": (
                    f"{baseline}'s open workflows drain on its revision unless {candidate} "
                    f"declares compatible_with=[{baseline!r}]; "
                    + (
                        f"the {len(results)} sampled replay on it cleanly, so it may"
                        if results
                        else "none is open now"
                    )
                    if not bad
                    else f"{baseline}'s open workflows drain on its revision: {len(bad)} of "
                    f"{len(results)} sampled diverge on {candidate}, which must not declare "
                    f"compatible_with=[{baseline!r}]; first: {bad[0]}"
                ),
            }
        self.record(rid, "replay", "replay", out)
        return out

    # -- shifting -----------------------------------------------------------------------------

    def apply(
        self,
        rid: str,
        key: str,
        split: dict[str, Any],
        spec: dict[str, Any],
        row: dict[str, Any],
    ) -> dict[str, Any]:
        """Set platform traffic and tether routing to one split: ``{"at": epoch ms}``, or
        ``{"error": ...}`` when the platform refused (the rollout is then paused, untouched
        beyond what the platform already reports, until someone fixes the cause)."""
        platform = open_platform(spec)
        try:
            platform.set_traffic(split["traffic"], split["tags"])
        except PlatformError as exc:
            permission = getattr(exc, "permission", None)
            reason = (
                f"the platform refused {key}: {exc}; fix it, then `tether rollout resume {rid}`"
                f" (or abort)"
            )
            self.record(
                rid,
                f"{key}:refused:{now_ms()}",
                "platform-refused",
                {"error": str(exc), "permission": permission, "reason": reason},
                state="paused",
                reason=reason,
            )
            return {"error": reason, "permission": permission}
        r = split["routing"]
        set_routing(
            self.store,
            current=r["current"],
            ramping=r["ramping"],
            percent=r["percent"] if r["ramping"] else None,
            by=ACTOR,
        )
        self.record(rid, key, key.split(":")[-1], split, **row)
        return {"at": now_ms()}

    def health(
        self,
        rid: str,
        key: str,
        candidate: str,
        baseline: str,
        since_ms: int,
        parked_since_ms: int,
        gates: dict[str, Any],
    ) -> dict[str, Any]:
        db, app = self.store.db, self.store.app_name
        cand = version_health(
            db, app, candidate, since_ms, parked_since_ms=parked_since_ms, exclude=INTERNAL
        )
        base = version_health(db, app, baseline, since_ms, exclude=INTERNAL)
        v = verdict(cand, base, Gates(**gates))
        out = {
            "outcome": v.outcome,
            "reason": v.reason,
            "candidate": asdict(cand),
            "baseline": asdict(base),
        }
        if v.outcome != "wait":
            self.record(rid, key, "gate", out)
        return out

    def rollback(
        self,
        rid: str,
        baseline: dict[str, Any],
        candidate: dict[str, Any],
        reason: str,
        spec: dict[str, Any],
    ) -> dict[str, Any]:
        """Traffic and routing back to the baseline; the candidate's work stays on it."""
        base, cand = Side(**baseline), Side(**candidate)
        store = self.store
        markers = open_patch_markers(store.db, store.app_name, cand.version, exclude=INTERNAL)
        info = {v["version"]: v for v in store.versions.list()}
        base_patches = info.get(base.version, {}).get("patches", [])
        runs = any(
            cand.version in e.runnable_versions or "*" in e.runnable_versions
            for e in store.executors.list(self._lease_ms(), include_stopped=False)
            if e.version == base.version
        )
        plan = rollback_plan(
            base, cand, markers, baseline_patches=base_patches, baseline_runs_candidate=runs
        )
        applied = self.apply(
            rid,
            "rollback",
            _split_dict(plan.split),
            spec,
            {"state": "rolled_back", "percent": 0, "reason": reason},
        )
        if "error" in applied:
            return applied
        detail = {
            "reason": reason,
            "stay_on_candidate": list(plan.stay_on_candidate),
            "at_risk": list(plan.at_risk),
            "note": plan.reason,
        }
        self.record(rid, "rollback:plan", "rollback-plan", detail)
        return detail

    # -- after the outcome --------------------------------------------------------------------

    def drain(
        self,
        rid: str,
        key: str,
        side: dict[str, Any],
        protected: Sequence[str],
        spec: dict[str, Any],
        delete: bool,
    ) -> dict[str, Any]:
        """Keep, wake or retire one old revision, from what the database says it still runs."""
        platform = open_platform(spec)
        s = Side(**side)
        state = platform.describe()
        rev = state.revision(s.revision)
        if rev is None:
            return {"action": "gone", "reason": f"{s.revision} no longer exists", "done": True}
        store = self.store
        work = open_work(store.db, store.app_name, exclude=INTERNAL).get(s.version, 0)
        live = sum(
            1
            for e in store.executors.list(self._lease_ms(), include_stopped=False)
            if s.version in e.runnable_versions or "*" in e.runnable_versions
        )
        d = draining.retire_or_keep(
            draining.RevisionWork(rev.name, s.version, rev.percent, rev.tag, work, live),
            protected=frozenset(protected),
            revision_count=len(state.revisions),
            delete=delete,
        )
        out = {"action": d.action, "reason": d.reason, "open_work": work, "done": not d.keeps}
        out.update(self._perform(platform, d, s))
        if out.get("orphaned") or not d.keeps:
            self.record(rid, key, d.action, out)
        return out

    def _perform(self, platform: Platform, d: draining.Decision, s: Side) -> dict[str, Any]:
        if d.action == draining.TAG:
            platform.keep_warm(s.revision, s.tag)
        elif d.action == draining.WAKE:
            if not platform.wake(s.revision):
                return {
                    "orphaned": True,
                    "reason": d.reason + f"; waking {s.revision} failed: "
                    "its workflows are orphaned until an executor of "
                    f"{s.version} runs",
                }
        elif d.action in (draining.RETIRE, draining.DELETE):
            platform.retire(s.revision, delete=d.action == draining.DELETE)
        return {}

    def start_drain(self, rid: str, version: str, args: tuple[Any, ...]) -> str:
        """Leave the drain workflow (id ``RID.drain``) for a live executor of ``version``; a
        platform only this process reaches (local processes it supervises) is drained here,
        by this process's version, since no other executor could open it."""
        if args[3].get("kind") == "process":
            version = self._code_version()
        wid = drain_id(rid)
        store = self.store
        inputs_json = encode_inputs(wid, DRAINER, tuple(args), {})
        store.db.writing(  # insert-if-absent: repeatable
            lambda conn: store.workflows.insert(
                conn,
                workflow_id=wid,
                name=DRAINER,
                inputs_json=inputs_json,
                version=version,
                status=Status.PENDING,
                executor_id=None,
            ),
            what="leave the drain workflow",
        )
        self.record(rid, "handoff", "handoff", {"drain": wid, "version": version})
        return wid

    def finish(self, rid: str, service: str) -> None:
        self.rollouts.unlock(service, rid)

    def open_candidate_statuses(self, version: str) -> int:
        return open_work(self.store.db, self.store.app_name, exclude=INTERNAL).get(version, 0)


def drain_id(rollout_id: str) -> str:
    """The id of the workflow that drains a rollout's old side."""
    return f"{rollout_id}.drain"


def _split_dict(split: Split) -> dict[str, Any]:
    return split.to_dict()
