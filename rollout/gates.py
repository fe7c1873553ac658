"""Gate verdicts: is the candidate healthy enough to move on? (pure; no I/O)

A verdict compares the candidate's health since the stage began with the baseline's over
the same window: ``fail`` with the reason to record, ``wait`` while the sample is too small,
``pass`` otherwise. Non-determinism is decisive at any sample size: a parked workflow means
the candidate's code cannot run a history it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

from tether.runtime.store.health import VersionHealth

from .plan import Gates

PASS, FAIL, WAIT = "pass", "fail", "wait"


@dataclass(frozen=True)
class Verdict:
    outcome: str  # pass | fail | wait
    reason: str

    @property
    def passed(self) -> bool:
        return self.outcome == PASS


def verdict(candidate: VersionHealth, baseline: VersionHealth | None, gates: Gates) -> Verdict:
    v = candidate.version
    if candidate.parked > gates.max_parked:
        return Verdict(
            FAIL,
            f"{candidate.parked} workflow(s) of {v} parked by non-determinism "
            f"(at most {gates.max_parked} tolerated)",
        )
    if candidate.finished < gates.min_sample:
        return Verdict(
            WAIT, f"{candidate.finished} of {gates.min_sample} workflows of {v} finished so far"
        )
    rate = candidate.failure_rate
    base_rate = _rate(baseline, gates)
    if rate > gates.max_failure_rate and (base_rate is None or rate > base_rate):
        against = "" if base_rate is None else f", baseline {baseline.version} {base_rate:.1%}"  # type: ignore[union-attr]
        return Verdict(
            FAIL,
            f"failure rate of {v} is {rate:.1%} ({candidate.failed}/{candidate.finished}), "
            f"above {gates.max_failure_rate:.1%}{against}",
        )
    ratio = gates.max_latency_ratio
    if (
        ratio is not None
        and baseline is not None
        and candidate.step_p95_ms is not None
        and baseline.step_p95_ms
        and candidate.step_samples >= gates.min_sample
        and baseline.step_samples >= gates.min_sample
        and candidate.step_p95_ms > ratio * baseline.step_p95_ms
    ):
        return Verdict(
            FAIL,
            f"step p95 of {v} is {candidate.step_p95_ms:.0f} ms, more than {ratio:g}x "
            f"baseline {baseline.version}'s {baseline.step_p95_ms:.0f} ms",
        )
    return Verdict(
        PASS,
        f"{v}: {candidate.finished} finished, failure rate {rate:.1%}, {candidate.parked} parked",
    )


def _rate(baseline: VersionHealth | None, gates: Gates) -> float | None:
    """The baseline's failure rate when its sample is large enough to compare against."""
    if baseline is None or baseline.finished < max(gates.min_sample, 1):
        return None
    return baseline.failure_rate
