"""History retention: delete finished workflows older than an age or beyond a row budget.

``app.retention(max_age=30 * 86400)`` keeps a policy and registers the ``tether.retention``
workflow on a cron schedule, so one executor of the fleet collects at each tick;
``app.retention.collect(...)`` (and ``tether gc``) collects now. Deletion runs in bounded
batches (one short transaction each), never touches an open or parked workflow, a child
whose parent is still open, or a workflow an open fork was copied from. Once no retained
history carries a patch's marker, the patch report calls the patch safe to remove.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tether.runtime.clock import now_ms
from tether.runtime.errors import ConfigurationError
from tether.runtime.store.retention import RetentionStore

if TYPE_CHECKING:
    from .app import Tether

WORKFLOW = "tether.retention"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str | float) -> float:
    """Seconds from ``3600``, ``"90s"``, ``"15m"``, ``"12h"``, ``"30d"`` or ``"2w"`` (pure)."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
        if match is None:
            raise ConfigurationError(
                f"invalid age {text!r}: use seconds or a number with s, m, h, d or w (e.g. 30d)"
            )
        seconds = float(match[1]) * _UNITS[match[2] or "s"]
    if seconds < 0:
        raise ConfigurationError(f"an age cannot be negative, got {text!r}")
    return seconds


def cutoff(now: int, *, max_age_ms: int | None, budget_cutoff: int | None) -> int | None:
    """Workflows finished before the returned time go (pure): older than ``max_age_ms`` or
    beyond the row budget (before ``budget_cutoff``), whichever reaches further. None: keep
    everything."""
    by_age = None if max_age_ms is None else now - max_age_ms
    limits = [c for c in (by_age, budget_cutoff) if c is not None]
    return max(limits) if limits else None


@dataclasses.dataclass(frozen=True)
class RetentionPolicy:
    max_age: float | None = None  # seconds after completion
    max_workflows: int | None = None  # finished workflows kept, newest first
    batch_size: int = 1000

    def validate(self) -> RetentionPolicy:
        if self.max_age is None and self.max_workflows is None:
            raise ConfigurationError("retention needs max_age, max_workflows or both")
        if self.max_workflows is not None and self.max_workflows < 0:
            raise ConfigurationError(f"max_workflows must be >= 0, got {self.max_workflows}")
        if not 1 <= self.batch_size <= 100_000:
            raise ConfigurationError(f"batch_size must be within 1..100000, got {self.batch_size}")
        return self


@dataclasses.dataclass(frozen=True)
class RetentionReport:
    """What one collection deleted (or, with ``dry_run``, would delete)."""

    cutoff: int | None  # workflows finished before this (epoch ms) were eligible
    deleted: int  # workflows
    deleted_rows: int  # their operations, messages, events and moves
    batches: int
    seconds: float
    dry_run: bool = False
    remaining: bool = False  # stopped at max_batches with eligible workflows left

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Retention:
    """``app.retention(...)`` sets the policy and schedules it; ``.collect()`` runs it now."""

    def __init__(self, app: Tether) -> None:
        self._app = app
        self.policy: RetentionPolicy | None = None

    def __call__(
        self,
        *,
        max_age: str | float | None = None,
        max_workflows: int | None = None,
        batch_size: int = 1000,
        cron: str = "*/10 * * * *",
    ) -> RetentionPolicy:
        """Keep finished workflows for ``max_age`` (seconds, or "30d") and at most
        ``max_workflows`` of them; collect on ``cron`` (one executor per tick). Call before
        ``launch()``."""
        policy = RetentionPolicy(
            None if max_age is None else parse_age(max_age), max_workflows, batch_size
        ).validate()
        first = self.policy is None
        self.policy = policy
        if first:
            self._schedule(cron)
        return policy

    def _schedule(self, cron: str) -> None:
        app = self._app

        @app.step(name="tether.retention.collect")
        def collect_step() -> dict[str, Any]:
            return self.collect().to_dict()

        def retention(tick: Any) -> dict[str, Any]:
            return collect_step()

        app.scheduled(cron, name=WORKFLOW)(app.workflow(name=WORKFLOW)(retention))

    def collect(
        self,
        *,
        max_age: str | float | None = None,
        max_workflows: int | None = None,
        batch_size: int | None = None,
        max_batches: int | None = None,
        dry_run: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> RetentionReport:
        """Delete what the policy (or the arguments, which replace it) lets go, oldest first,
        ``batch_size`` workflows per transaction; ``dry_run`` only counts."""
        base = self.policy or RetentionPolicy(None, None)
        policy = RetentionPolicy(
            base.max_age if max_age is None else parse_age(max_age),
            base.max_workflows if max_workflows is None else max_workflows,
            base.batch_size if batch_size is None else batch_size,
        ).validate()
        store = RetentionStore(self._app.store.db, self._app.app_name)
        started = time.monotonic()
        budget = None
        if policy.max_workflows is not None:
            budget = store.budget_cutoff(policy.max_workflows) if policy.max_workflows else now_ms()
        limit = cutoff(
            now_ms(),
            max_age_ms=None if policy.max_age is None else int(policy.max_age * 1000),
            budget_cutoff=budget,
        )
        if limit is None:
            return RetentionReport(None, 0, 0, 0, time.monotonic() - started, dry_run)
        if dry_run:
            n = store.count(limit)
            return RetentionReport(limit, n, 0, 0, time.monotonic() - started, True)
        deleted = rows = batches = 0
        remaining = False
        while True:
            if max_batches is not None and batches >= max_batches:
                remaining = True
                break
            ids, extra = store.delete_batch(limit, policy.batch_size)
            if not ids:
                break
            batches += 1
            deleted += len(ids)
            rows += extra
            if progress is not None:
                progress(deleted, rows)
            if len(ids) < policy.batch_size:
                break
        return RetentionReport(
            limit, deleted, rows, batches, time.monotonic() - started, False, remaining
        )
