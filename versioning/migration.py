"""Moving open workflows from one version to another, after proving each one replays.

``migrate_workflows`` replays every open workflow (ENQUEUED, PENDING, PARKED) of the source
version against the code of the process calling it, which must run the target version, and
moves only those whose history replays cleanly. A move is refused for a workflow that is
running right now (PENDING with a live holder); it bumps the lease epoch, so a holder thought
dead can no longer write, and is logged in the workflow's lineage (who, from where, when).
Re-running is safe: moved workflows are no longer on the source version.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import socket
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from tether.runtime.errors import ConfigurationError, NondeterminismError
from tether.runtime.records import Status, WorkflowRecord
from tether.runtime.store import Store
from tether.runtime.store.lineage import MOVABLE

from . import registry

# Outcomes per workflow.
MOVED = "moved"
WOULD_MOVE = "would_move"  # dry run: it would move
NOTHING_TO_DO = "nothing_to_do"  # already on the target version
RUNNING = "running"  # held by a live executor right now
DIVERGED = "diverged"  # its history does not replay on the target code
ERROR = "error"  # the replay failed for another reason
SKIPPED = "skipped"  # not found, finished, or on another version
CHANGED = "changed"  # it changed between the replay and the move: re-run


class ReplayOutcome(Protocol):
    outcome: str  # "passed" | "diverged" | "error"
    divergence: NondeterminismError | None
    error: str | None
    positions_replayed: int


Replay = Callable[[str], ReplayOutcome]


@dataclasses.dataclass(frozen=True, slots=True)
class MigrationResult:
    workflow_id: str
    outcome: str
    reason: str
    name: str | None = None
    status: str | None = None
    positions_replayed: int | None = None
    divergence: dict[str, Any] | None = None

    @property
    def moved(self) -> bool:
        return self.outcome in (MOVED, WOULD_MOVE)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class MigrationReport:
    from_version: str
    to_version: str
    dry_run: bool
    results: tuple[MigrationResult, ...]

    @property
    def moved(self) -> list[str]:
        """Workflows moved (or, in a dry run, that would move)."""
        return [r.workflow_id for r in self.results if r.moved]

    @property
    def left(self) -> list[MigrationResult]:
        """Workflows left where they are, each with the reason."""
        return [r for r in self.results if not r.moved and r.outcome != NOTHING_TO_DO]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            out[r.outcome] = out.get(r.outcome, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "from_version": self.from_version,
            "to_version": self.to_version,
            "dry_run": self.dry_run,
            "counts": self.counts(),
            "results": [r.to_dict() for r in self.results],
        }


def actor(executor_id: str | None = None) -> str:
    """Who is acting, for the lineage log and the routing pointer: user@host, pid, executor."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = "unknown"
    who = f"{user}@{socket.gethostname()} pid {os.getpid()}"
    return f"{who} executor {executor_id}" if executor_id else who


def check_target_code(code_version: str, target: str, what: str) -> None:
    """Refuse to prove compatibility with any code but the target version's own."""
    if code_version != target:
        raise ConfigurationError(
            f"{what} version {target!r} must be checked by replaying on {target!r}'s code, "
            f"but this process runs version {code_version!r}: run it from a process running "
            f"{target!r} (e.g. `tether workflows ... --module your.app:app` with "
            f"TETHER_APP_VERSION={target})"
        )


def describe_replay(res: ReplayOutcome) -> tuple[str, str, dict[str, Any] | None]:
    """(outcome, reason, divergence fields) of a replay that did not pass."""
    if res.outcome == "diverged" and res.divergence is not None:
        d = res.divergence
        reason = (
            f"diverged at position {d.position}: recorded {d.recorded}, "
            f"the code asked for {d.requested}"
        )
        if d.nearest_patch:
            reason += f" (nearest patch gate {d.nearest_patch!r})"
        return DIVERGED, reason, d.to_fields()
    return ERROR, f"replay failed: {res.error or res.outcome}", None


class Migration:
    def __init__(
        self,
        store: Store,
        *,
        from_version: str,
        to_version: str,
        replay: Replay,
        lease_timeout_ms: int,
        moved_by: str,
        dry_run: bool,
    ) -> None:
        self.store = store
        self.source = from_version
        self.target = to_version
        self.replay = replay
        self.lease_ms = lease_timeout_ms
        self.moved_by = moved_by
        self.dry_run = dry_run
        self._live: set[str] | None = None

    def live_executors(self) -> set[str]:
        if self._live is None:
            live = self.store.executors.list(self.lease_ms, include_stopped=False)
            self._live = {e.executor_id for e in live}
        return self._live

    def one(self, workflow_id: str) -> MigrationResult:
        rec = self.store.workflows.get(workflow_id)
        if rec is None:
            return MigrationResult(workflow_id, SKIPPED, "no such workflow")
        info: dict[str, Any] = {"name": rec.name, "status": rec.status}
        if rec.version == self.target:
            return MigrationResult(
                workflow_id, NOTHING_TO_DO, f"already on {self.target!r}", **info
            )
        if rec.version != self.source:
            return MigrationResult(
                workflow_id, SKIPPED, f"on version {rec.version!r}, not {self.source!r}", **info
            )
        if rec.status not in MOVABLE:
            return MigrationResult(
                workflow_id, SKIPPED, f"{rec.status}: only open work moves", **info
            )
        if self._running(rec):
            return self._running_result(rec)
        length = self.store.lineage.history_length(workflow_id)
        try:
            res = self.replay(workflow_id)
        except Exception as exc:  # noqa: BLE001 - report it and go on with the others
            return MigrationResult(workflow_id, ERROR, f"replay failed: {exc}", **info)
        if res.outcome != "passed":
            outcome, reason, divergence = describe_replay(res)
            return MigrationResult(
                workflow_id,
                outcome,
                reason,
                positions_replayed=res.positions_replayed,
                divergence=divergence,
                **info,
            )
        if self.dry_run:
            return MigrationResult(
                workflow_id,
                WOULD_MOVE,
                f"replays cleanly on {self.target!r}",
                positions_replayed=res.positions_replayed,
                **info,
            )
        moved = self.store.lineage.move(
            workflow_id,
            from_version=self.source,
            to_version=self.target,
            epoch=rec.lease_epoch,
            history_length=length,
            lease_timeout_ms=self.lease_ms,
            moved_by=self.moved_by,
            detail={
                "status": rec.status,
                "history_length": length,
                "positions_replayed": res.positions_replayed,
            },
        )
        if not moved:
            return self._changed(workflow_id, info)
        reason = f"replayed {res.positions_replayed} position(s) cleanly on {self.target!r}"
        if rec.status == Status.PARKED:
            reason += "; still PARKED: resume it to run it"
        return MigrationResult(
            workflow_id, MOVED, reason, positions_replayed=res.positions_replayed, **info
        )

    def _running(self, rec: WorkflowRecord) -> bool:
        return (
            rec.status == Status.PENDING
            and rec.executor_id is not None
            and rec.executor_id in self.live_executors()
        )

    def _running_result(self, rec: WorkflowRecord) -> MigrationResult:
        return MigrationResult(
            rec.workflow_id,
            RUNNING,
            f"running right now on live executor {rec.executor_id!r}: not moved "
            "(re-run once it stops or the workflow waits elsewhere)",
            name=rec.name,
            status=rec.status,
        )

    def _changed(self, workflow_id: str, info: dict[str, Any]) -> MigrationResult:
        self._live = None
        rec = self.store.workflows.get(workflow_id)
        if rec is not None and rec.version == self.source and self._running(rec):
            return self._running_result(rec)
        return MigrationResult(
            workflow_id, CHANGED, "it changed while being checked: not moved (re-run)", **info
        )


def migrate_workflows(
    store: Store,
    *,
    from_version: str,
    to_version: str,
    code_version: str,
    replay: Replay,
    lease_timeout_ms: int,
    moved_by: str,
    workflow_ids: Sequence[str] | None = None,
    dry_run: bool = False,
) -> MigrationReport:
    """Replay, then move, each open workflow of ``from_version`` to ``to_version``."""
    if isinstance(workflow_ids, str):
        raise ConfigurationError("workflow_ids must be a list of ids, not one string")
    target = registry.resolve(store, to_version)
    try:
        source = registry.resolve(store, from_version)
    except ConfigurationError:
        source = from_version  # workflows written before the registry existed
    if source == target:
        raise ConfigurationError(f"from_version and to_version are both {target!r}")
    check_target_code(code_version, target, "moving workflows to")
    ids = list(workflow_ids) if workflow_ids is not None else store.lineage.open_ids(source)
    run = Migration(
        store,
        from_version=source,
        to_version=target,
        replay=replay,
        lease_timeout_ms=lease_timeout_ms,
        moved_by=moved_by,
        dry_run=dry_run,
    )
    results = tuple(run.one(wid) for wid in dict.fromkeys(ids))
    return MigrationReport(source, target, dry_run, results)
