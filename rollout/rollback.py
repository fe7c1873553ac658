"""What a rollback does with the candidate's workflows in flight (pure; no I/O).

A workflow started on the candidate may carry patch markers that the baseline's code does
not know: handing it to the baseline would diverge. So every open workflow of the candidate
stays tethered to the candidate, whose revision keeps its tag at 0 % until they drain. The
plan also names the workflows at risk: those with markers the baseline lacks, when executors
of the baseline declare they may run the candidate's version (``compatible_with``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .split import Side, Split, rollback_split


@dataclass(frozen=True)
class RollbackPlan:
    split: Split
    keep_candidate: bool  # keep the candidate tagged (and woken) until its work drains
    stay_on_candidate: tuple[str, ...]  # open workflows that finish on the candidate
    at_risk: tuple[str, ...]  # ...of which the baseline's executors could wrongly take
    reason: str


def rollback_plan(
    baseline: Side,
    candidate: Side,
    open_candidate: Mapping[str, Iterable[str]],
    *,
    baseline_patches: Iterable[str],
    baseline_runs_candidate: bool,
) -> RollbackPlan:
    """``open_candidate``: open workflow id → patch markers in its history."""
    known = set(baseline_patches)
    stay = tuple(sorted(open_candidate))
    risky = tuple(
        sorted(
            wid
            for wid, markers in open_candidate.items()
            if baseline_runs_candidate and set(markers) - known
        )
    )
    if not stay:
        reason = "no workflow of the candidate is open"
    else:
        reason = f"{len(stay)} open workflow(s) of {candidate.version} finish on its revision"
        if risky:
            reason += (
                f"; {len(risky)} carry patch markers {baseline.version} lacks and its executors "
                f"declare compatible_with {candidate.version}: remove that declaration"
            )
    return RollbackPlan(rollback_split(baseline, candidate), bool(stay), stay, risky, reason)
