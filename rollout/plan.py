"""A rollout plan: the stages a candidate goes through, from steps, bake times, gates and
approval points (pure; no I/O).

    plan = make_plan("agent-00002-def", steps=[10, 50, 100], bake=300, approve_at=[100])

Each stage shifts traffic and routing to ``percent`` for the candidate, bakes, then reads
health; a stage with ``approve`` waits for an approval message *before* it shifts. The last
stage is 100 %: its bake and gate still precede promotion, so a bad candidate at full traffic
is rolled back like any other.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tether.runtime.errors import ConfigurationError

INSUFFICIENT = ("pause", "pass")


@dataclass(frozen=True)
class Gates:
    """Health thresholds a stage must meet before the rollout moves on."""

    #: Highest tolerated share of the candidate's finished workflows that failed; a candidate
    #: failing no more often than the baseline is never blamed for it.
    max_failure_rate: float = 0.05
    #: Workflows of the candidate parked by non-determinism that are tolerated (0: any fails).
    max_parked: int = 0
    #: The candidate's step p95 may be at most this multiple of the baseline's (None: off).
    max_latency_ratio: float | None = 2.0
    #: Finished workflows (and step samples, for latency) needed before a verdict.
    min_sample: int = 20
    #: Seconds to keep waiting for the minimum sample after the bake.
    max_wait: float = 600.0
    #: What to do when the sample is still too small after ``max_wait``.
    on_insufficient: str = "pause"

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_failure_rate <= 1.0:
            raise ConfigurationError(
                f"max_failure_rate must be within 0..1, got {self.max_failure_rate!r}"
            )
        if self.max_parked < 0 or self.min_sample < 0 or self.max_wait < 0:
            raise ConfigurationError("max_parked, min_sample and max_wait must be >= 0")
        if self.max_latency_ratio is not None and self.max_latency_ratio <= 0:
            raise ConfigurationError("max_latency_ratio must be > 0 (or None to turn it off)")
        if self.on_insufficient not in INSUFFICIENT:
            raise ConfigurationError(
                f"on_insufficient must be one of {INSUFFICIENT}, got {self.on_insufficient!r}"
            )


@dataclass(frozen=True)
class Stage:
    index: int
    percent: int
    bake: float  # seconds
    approve: bool  # wait for an approval before shifting to ``percent``


@dataclass(frozen=True)
class Plan:
    candidate: str
    stages: tuple[Stage, ...]
    gates: Gates = field(default_factory=Gates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "stages": [asdict(s) for s in self.stages],
            "gates": asdict(self.gates),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        return cls(
            candidate=str(data["candidate"]),
            stages=tuple(Stage(**s) for s in data["stages"]),
            gates=Gates(**data.get("gates", {})),
        )


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def seconds(value: float | int | str) -> float:
    """A duration: a number of seconds, or text such as "90s", "5m", "1h", "250ms"."""
    if isinstance(value, bool):
        raise ConfigurationError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ConfigurationError(f"a duration must be >= 0, got {value!r}")
        return float(value)
    m = _DURATION.match(str(value))
    if m is None:
        raise ConfigurationError(f"not a duration: {value!r} (use seconds, or e.g. '5m', '90s')")
    return float(m.group(1)) * _UNITS[m.group(2)]


def make_plan(
    candidate: str,
    *,
    steps: Sequence[int] = (10, 50, 100),
    bake: float | str | Sequence[float | str] = 300.0,
    gates: Gates | Mapping[str, Any] | None = None,
    approve_at: Sequence[int] = (),
) -> Plan:
    """Validate the plan and lay out its stages; invalid input raises before anything runs."""
    if not candidate:
        raise ConfigurationError("a rollout needs a candidate revision")
    percents = [int(p) for p in steps]
    if not percents or percents[-1] != 100:
        raise ConfigurationError(f"steps must end at 100, got {list(steps)!r}")
    if any(not 0 < p <= 100 for p in percents):
        raise ConfigurationError(f"every step must be within 1..100, got {list(steps)!r}")
    if any(b <= a for a, b in zip(percents, percents[1:], strict=False)):
        raise ConfigurationError(f"steps must strictly increase, got {list(steps)!r}")
    if isinstance(bake, (str, int, float)):
        bakes = [seconds(bake)] * len(percents)
    else:
        bakes = [seconds(b) for b in bake]
        if len(bakes) != len(percents):
            raise ConfigurationError(
                f"bake has {len(bakes)} durations for {len(percents)} steps: give one or one each"
            )
    unknown = sorted(set(int(a) for a in approve_at) - set(percents))
    if unknown:
        raise ConfigurationError(
            f"approve_at {unknown} names no step: approvals happen before a step in {percents}"
        )
    if gates is None:
        gates = Gates()
    elif not isinstance(gates, Gates):
        gates = _gates(gates)
    approvals = {int(a) for a in approve_at}
    stages = tuple(
        Stage(i, p, b, p in approvals) for i, (p, b) in enumerate(zip(percents, bakes, strict=True))
    )
    return Plan(candidate, stages, gates)


def _gates(data: Mapping[str, Any]) -> Gates:
    known = set(Gates.__dataclass_fields__)
    extra = sorted(set(data) - known)
    if extra:
        raise ConfigurationError(f"unknown gate settings {extra}: known are {sorted(known)}")
    values = dict(data)
    if "max_wait" in values:
        values["max_wait"] = seconds(values["max_wait"])
    return Gates(**values)


def load_plan_file(path: str | Path, **overrides: Any) -> tuple[Plan, dict[str, Any]]:
    """A plan from a TOML file: ``[rollout]`` (candidate, steps, bake, approve_at), optional
    ``[rollout.gates]``; also returns its ``[platform]`` table (may be empty). ``overrides``
    (candidate, steps, bake, approve_at, gates) that are not None replace the file's."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read the rollout plan {str(path)!r}: {exc}") from exc
    section = data.get("rollout")
    if not isinstance(section, dict):
        raise ConfigurationError(f"{str(path)!r} needs a [rollout] table")
    fields = ("candidate", "steps", "bake", "approve_at", "gates")
    extra = sorted(set(section) - set(fields))
    if extra:
        raise ConfigurationError(f"unknown [rollout] settings in {str(path)!r}: {extra}")
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ConfigurationError(f"unknown plan overrides {unknown}")
    merged = {**section, **{k: v for k, v in overrides.items() if v is not None}}
    if isinstance(section.get("gates"), dict) and isinstance(overrides.get("gates"), Mapping):
        merged["gates"] = {**section["gates"], **overrides["gates"]}  # thresholds one by one
    if "candidate" not in merged:
        raise ConfigurationError(
            f'{str(path)!r} names no candidate: set candidate = "REVISION" or pass one'
        )
    plan = make_plan(
        str(merged["candidate"]),
        steps=merged.get("steps", (10, 50, 100)),
        bake=merged.get("bake", 300.0),
        gates=merged.get("gates"),
        approve_at=merged.get("approve_at", ()),
    )
    return plan, dict(data.get("platform", {}))
