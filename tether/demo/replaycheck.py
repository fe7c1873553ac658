"""May v2 run v1's open workflows? Replay their recorded histories on v2's code and say which
may and why (the summary is a pure function of the replay results)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tether.runtime.records import Status
from tether.versioning.replay import Replayer, ReplayResult

from .agent import GATE, make_app
from .rows import AGENT


@dataclass(frozen=True)
class ReplayVerdict:
    total: int
    passed: int
    old_path: int  # past the gate's position on the old code: the gate keeps their path
    new_path: int  # not yet at the gate: they would take the new path
    diverged: tuple[str, ...]  # summaries of those that may not run on the candidate
    text: str

    @property
    def may_run(self) -> bool:
        return not self.diverged


def summarize(
    results: Sequence[ReplayResult], baseline: str, candidate: str, *, declared: bool = False
) -> ReplayVerdict:
    """``declared``: the candidate's executors declare ``compatible_with`` the baseline."""
    passed = [r for r in results if r.passed]
    bad = tuple(r.summary() for r in results if not r.passed)
    old = sum(1 for r in passed if r.patches_taken.get(GATE) is False)
    new = sum(1 for r in passed if r.patches_taken.get(GATE) is True)
    n = len(results)
    if n == 0:
        text = f"no open {baseline} workflow to replay: nothing can be handed to {candidate}"
    elif bad:
        text = (
            f"{len(bad)} of {n} open {baseline} workflows diverge on {candidate}'s code "
            f"({bad[0]}): {candidate} must not run them; they finish on {baseline}"
        )
    else:
        before = n - old - new
        text = (
            f"all {n} open {baseline} workflows replay on {candidate}'s code ({old} past the "
            f"{GATE!r} gate, which keeps {baseline}'s path for them; {new} at the gate, "
            f"{before} before it, would take {candidate}'s path): {candidate} may run them"
        )
        text += (
            "; it declares compatible_with, so it may take them over"
            if declared
            else f"; it declares no compatible_with {baseline}, so they stay tethered to "
            f"{baseline} and drain on its revision"
        )
    return ReplayVerdict(n, len(passed), old, new, bad, text)


def replay_open(
    *, app_name: str, database_url: str, release: str, baseline: str, candidate: str
) -> ReplayVerdict:
    """Replay ``baseline``'s open agent workflows on ``release``'s code (nothing is run)."""
    code = make_app(release, app_name=app_name, database_url=database_url, migrate=False)
    try:
        results = Replayer(code, code_version=candidate).replay_many(
            version=baseline, name=AGENT, status=list(Status.OPEN)
        )
    finally:
        code.close()
    return summarize(results, baseline, candidate)
