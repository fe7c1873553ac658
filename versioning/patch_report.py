"""The patch lifecycle report: which step of patch → deprecate → remove is safe now, per patch.

For every patch name seen in the code (its workflow sources), in the version registry or in
history (markers), the report counts:

- open workflows (ENQUEUED, PENDING, PARKED) on the *old path*: found by replaying each one
  on this code and reading which branch its gate took, not guessed from versions;
- open workflows whose branch cannot be known (their replay fails before the gate) and open
  workflows *at risk*: not at the gate yet, while a live executor whose code lacks the gate
  may run them (it would take the old path there);
- histories carrying the patch's marker (open, and all retained ones).

Verdicts are conservative: ``safe to deprecate`` only when no open workflow takes, may take,
or might have taken the old path; ``safe to remove`` only when, in addition, no retained
history carries the marker (a history with the marker diverges on code without the gate).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from tether.runtime.history import PATCH_KIND
from tether.runtime.records import ExecutorRecord, Status
from tether.runtime.store import Store

from . import patch_scan
from .replay import Replayer, ReplayResult, _App

KEEP, SAFE_TO_DEPRECATE, SAFE_TO_REMOVE = "keep", "safe to deprecate", "safe to remove"
_SAMPLE = 10


@dataclasses.dataclass
class PatchStatus:
    name: str
    in_code: str | None  # "patch" | "deprecate_patch" | None (not in this code)
    workflows: list[str]  # workflows whose source calls the gate
    declared_by: list[str]  # versions whose code declares it (version registry)
    open_old_path: int = 0
    open_new_path: int = 0
    open_unknown: int = 0  # replay fails before the gate: the branch is unknown
    open_at_risk: int = 0  # not at the gate yet; an executor without the gate may run them
    open_markers: int = 0
    markers: int = 0  # retained histories carrying the marker (any status)
    verdict: str = KEEP
    problem: str | None = None  # the code is already past the safe step
    next_step: str = ""
    old_path_ids: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class PatchReport:
    code_version: str
    open_replayed: int
    patches: list[PatchStatus]
    not_replaying: list[ReplayResult]  # open workflows that do not replay on this code

    def get(self, name: str) -> PatchStatus:
        for p in self.patches:
            if p.name == name:
                return p
        raise KeyError(f"no patch {name!r} in the report; known: {[p.name for p in self.patches]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "code_version": self.code_version,
            "open_replayed": self.open_replayed,
            "patches": [p.to_dict() for p in self.patches],
            "not_replaying": [r.to_dict() for r in self.not_replaying],
        }


def build(app: _App, lease_timeout_ms: int, *, replayer: Replayer | None = None) -> PatchReport:
    """The report for ``app``'s code against its database (read only)."""
    store = app.store
    replayer = replayer or Replayer(app)
    declared = patch_scan.scan(app.registry.workflows.values())
    registry = {v["version"]: set(v.get("patches") or []) for v in store.versions.list()}
    markers = marker_counts(store)
    names = sorted(
        {d.name for d in declared} | {n for ps in registry.values() for n in ps} | set(markers)
    )
    results = replayer.replay_many(status=sorted(Status.OPEN))
    executors = store.executors.list(lease_timeout_ms, include_stopped=False)
    open_markers = _open_marker_sets(store, names)
    report = PatchReport(
        replayer.code_version, len(results), [], [r for r in results if not r.passed]
    )
    for name in names:
        gates = [d for d in declared if d.name == name]
        status = PatchStatus(
            name=name,
            in_code=_code_state(gates),
            workflows=sorted({d.workflow for d in gates}),
            declared_by=sorted(v for v, ps in registry.items() if name in ps),
            markers=markers.get(name, (0, 0))[0],
            open_markers=markers.get(name, (0, 0))[1],
        )
        _count(status, results, open_markers.get(name, set()), executors, registry)
        _judge(status)
        report.patches.append(status)
    return report


def _code_state(gates: list[patch_scan.Declared]) -> str | None:
    kinds = {d.kind for d in gates}
    if "patch" in kinds:
        return "patch"
    return "deprecate_patch" if kinds else None


def _count(
    status: PatchStatus,
    results: Iterable[ReplayResult],
    with_marker: set[str],
    executors: list[ExecutorRecord],
    registry: dict[str, set[str]],
) -> None:
    scope = set(status.workflows)
    for res in results:
        if scope and res.name not in scope:
            continue
        taken = res.patches_taken.get(status.name)
        if taken is False:
            status.open_old_path += 1
            if len(status.old_path_ids) < _SAMPLE:
                status.old_path_ids.append(res.workflow_id)
        elif taken or res.workflow_id in with_marker:
            status.open_new_path += 1
        elif not res.passed:
            if status.in_code is not None or _blames(res, status.name):
                status.open_unknown += 1
        elif (
            status.in_code is not None
            and res.stopped_at is not None  # it will go on from there
            and _at_risk(res.version, status.name, executors, registry)
        ):
            status.open_at_risk += 1


def _blames(res: ReplayResult, name: str) -> bool:
    return res.divergence is not None and res.divergence.nearest_patch == name


def _at_risk(
    version: str, name: str, executors: list[ExecutorRecord], registry: dict[str, set[str]]
) -> bool:
    """A live executor may run this version's workflows on code that lacks the gate."""
    return any(
        (version in e.runnable_versions or "*" in e.runnable_versions)
        and name not in registry.get(e.version, set())
        for e in executors
    )


def _judge(s: PatchStatus) -> None:
    old = s.open_old_path + s.open_unknown + s.open_at_risk
    if old:
        s.verdict = KEEP
    elif s.markers:
        s.verdict = SAFE_TO_DEPRECATE
    else:
        s.verdict = SAFE_TO_REMOVE
    why_old = _why_old(s)
    if s.in_code == "deprecate_patch" and old:
        s.problem = (
            f"deprecated too early: {why_old}; on this code they diverge: put back "
            f'`if tether.patch("{s.name}"): <new> else: <old>`'
        )
    elif s.in_code is None and (s.markers or old):
        s.problem = (
            f"removed too early: {s.markers} retained histories ({s.open_markers} open) carry "
            f'its marker and diverge on this code: put back tether.deprecate_patch("{s.name}") '
            "where the gate was"
        )
    if s.verdict == KEEP:
        s.next_step = f"keep the old branch: {why_old}"
    elif s.verdict == SAFE_TO_DEPRECATE and s.in_code == "patch":
        s.next_step = (
            f'replace the gate with tether.deprecate_patch("{s.name}") and keep only the new branch'
        )
    elif s.verdict == SAFE_TO_DEPRECATE:
        s.next_step = (
            f"keep deprecate_patch until no retained history carries its marker ({s.markers} do)"
        )
    elif s.in_code is not None:
        s.next_step = "remove the gate and keep the new branch"
    else:
        s.next_step = "nothing left: the gate is gone and no history needs it"


def _why_old(s: PatchStatus) -> str:
    parts = []
    if s.open_old_path:
        parts.append(f"{s.open_old_path} open workflow(s) took the old path")
    if s.open_unknown:
        parts.append(f"{s.open_unknown} do not replay up to the gate (branch unknown)")
    if s.open_at_risk:
        parts.append(f"{s.open_at_risk} may still take it on an executor without the gate")
    return "; ".join(parts) or "none on the old path"


def marker_counts(store: Store) -> dict[str, tuple[int, int]]:
    """Per patch name: (histories carrying its marker, of which open)."""
    return store.operations.named_counts(PATCH_KIND)


def _open_marker_sets(store: Store, names: list[str]) -> dict[str, set[str]]:
    """Open workflows carrying each marker (to place failed replays on the new path)."""
    return store.operations.open_holders(PATCH_KIND, names)
