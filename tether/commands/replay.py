"""Replay and the patch report: recorded histories run on your current workflow code.

Both need the code, so they take the app that the module defining it built (``load_app``);
nothing is launched, executed or written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from tether.versioning.history_io import WorkflowHistory, load_dir
from tether.versioning.patch_report import PatchReport
from tether.versioning.replay import Replayer, ReplayResult

from ..app import Tether
from .records import Record

Progress = Callable[[int, int, ReplayResult], None]  # (done, total, the latest result)


@dataclasses.dataclass(frozen=True)
class ReplayRun(Record):
    """The outcome of replaying many histories on one version of the code."""

    code_version: str
    results: list[ReplayResult]

    @property
    def passed(self) -> bool:
        """True when every history replayed cleanly (none diverged or failed)."""
        return all(r.passed for r in self.results)


def load_histories(path: str | Path, pattern: str = "*.json") -> list[WorkflowHistory]:
    """Exported histories: one file, or every file matching ``pattern`` in a folder."""
    target = Path(path)
    return [WorkflowHistory.load(target)] if target.is_file() else load_dir(target, pattern)


def replay(
    code: Tether,
    *,
    workflow_ids: Sequence[str] = (),
    version: str | None = None,
    name: str | None = None,
    status: Sequence[str] = (),
    limit: int | None = None,
    from_path: Path | None = None,
    fail_fast: bool = False,
    progress: Progress | None = None,
) -> ReplayRun:
    """Replay recorded workflows (from the database, or exported files under ``from_path``)
    on ``code``'s workflows: no side effects, no writes; the first divergence explained."""
    replayer = Replayer(code)
    if from_path is not None:
        histories = load_histories(from_path)
        results = replayer.replay_all(histories, fail_fast=fail_fast, progress=progress)
    else:
        results = replayer.replay_many(
            workflow_ids=list(workflow_ids) or None,
            version=version,
            name=name,
            status=list(status) or None,
            limit=limit,
            fail_fast=fail_fast,
            progress=progress,
        )
    return ReplayRun(replayer.code_version, results)


def patch_report(code: Tether) -> PatchReport:
    """Per patch gate: open workflows on the old path (by replay), histories with its marker,
    and which lifecycle step (deprecate, remove) is safe now."""
    return code.versions.patch_report()
