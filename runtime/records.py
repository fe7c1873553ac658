"""Immutable records handed out by the runtime (rows as the application sees them)."""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import Any, ClassVar


class Status(StrEnum):
    """Workflow statuses, and the named sets that code asks about (never spelled out)."""

    ENQUEUED = "ENQUEUED"
    PENDING = "PENDING"
    # In a durable wait, held by nobody: its wake condition is on its row (see suspension).
    SUSPENDED = "SUSPENDED"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"
    PARKED = "PARKED"  # non-determinism: waits for a code fix, then resume
    RECOVERY_EXHAUSTED = "RECOVERY_EXHAUSTED"

    # Not finished: it may still run (PARKED after a resume). Moves, migrations, dedup,
    # cancellation and patch reports act on these.
    OPEN: ClassVar[frozenset[Status]]
    # Runs with nobody's help: an executor will start or continue it. A handle waits while
    # its workflow is in here; a PARKED one is reported, not waited for.
    RUNNABLE: ClassVar[frozenset[Status]]
    TERMINAL: ClassVar[frozenset[Status]]  # ended for good unless resumed
    RESUMABLE: ClassVar[frozenset[Status]]  # what ``resume`` reopens
    ALL: ClassVar[tuple[Status, ...]]


Status.RUNNABLE = frozenset({Status.ENQUEUED, Status.PENDING, Status.SUSPENDED})
Status.OPEN = Status.RUNNABLE | {Status.PARKED}
Status.TERMINAL = frozenset(
    {Status.SUCCESS, Status.ERROR, Status.CANCELLED, Status.RECOVERY_EXHAUSTED}
)
Status.RESUMABLE = frozenset(
    {Status.CANCELLED, Status.PARKED, Status.ERROR, Status.RECOVERY_EXHAUSTED}
)
Status.ALL = tuple(Status)


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
    # What a SUSPENDED workflow waits on: the wait's kind (sleep, recv, event, child), its
    # topic, event key or awaited workflow, and its deadline (epoch ms; None: no deadline).
    wait_kind: str | None = None
    wait_on: str | None = None
    wake_at: int | None = None
    # The W3C traceparent it was started under (None: started unobserved); see observe.
    trace_context: str | None = None

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
    executor_id: str | None = None  # the executor that recorded it (None: not read back)

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
