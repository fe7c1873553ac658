"""Immutable records handed out by the runtime (rows as the application sees them)."""

from __future__ import annotations

import dataclasses
from typing import Any


class Status:
    """Workflow statuses. ENQUEUED and PENDING are open; the rest are terminal except PARKED."""

    ENQUEUED = "ENQUEUED"
    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"
    PARKED = "PARKED"  # non-determinism: waits for a code fix, then resume
    RECOVERY_EXHAUSTED = "RECOVERY_EXHAUSTED"

    OPEN = (ENQUEUED, PENDING)
    TERMINAL = (SUCCESS, ERROR, CANCELLED, RECOVERY_EXHAUSTED)
    ALL = (ENQUEUED, PENDING, SUCCESS, ERROR, CANCELLED, PARKED, RECOVERY_EXHAUSTED)


@dataclasses.dataclass(frozen=True, slots=True)
class WorkflowRecord:
    workflow_id: str
    name: str
    status: str
    version: str
    executor_id: str | None
    lease_epoch: int
    inputs: Any
    output: Any
    error: dict[str, Any] | None
    parent_id: str | None
    queue_name: str | None
    recovery_attempts: int
    created_at: int
    updated_at: int
    started_at: int | None
    completed_at: int | None
    forked_from: str | None = None  # the workflow this one was forked from
    forked_from_position: int | None = None  # its history was copied up to this position

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class OperationRecord:
    """One recorded operation at a position of a workflow's history (JSON kept as text)."""

    position: int
    kind: str
    name: str
    output: str | None = None
    error: str | None = None
    child_id: str | None = None
    version: str | None = None
    attempts: int = 1
    started_at: int | None = None
    completed_at: int | None = None

    def describe(self) -> str:
        return f"{self.kind} {self.name!r}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class ExecutorRecord:
    executor_id: str
    version: str
    runnable_versions: tuple[str, ...]
    state: str
    host: str | None
    pid: int | None
    started_at: int
    heartbeat_at: int
    alive: bool

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
