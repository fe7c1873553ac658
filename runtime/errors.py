"""The one error hierarchy of tether.

TetherError
├── ConfigurationError          bad settings or arguments; the message says what to change
├── NotInWorkflowError          a workflow-only call made outside a workflow
├── SerializationError          a value that cannot be stored as JSON
├── WorkflowNotFoundError
├── WorkflowConflictError       same workflow id reused for a different workflow
│   └── DeduplicatedError       a queue already holds an open workflow with this dedup id
├── NondeterminismError         recorded history does not match what the code does
├── SchemaError                 database schema missing, too old, or too new for this code
├── DatabaseUnavailableError    the database stayed unreachable past the retry deadline
├── WorkflowFailedError         result() of a workflow that ended in ERROR without a known type
├── WorkflowCancelledError      result() of a cancelled workflow
├── WorkflowParkedError         result() of a workflow parked for a fix
├── ResultTimeoutError          result()/get_event()/recv() waited longer than asked
└── StoredError                 a step/workflow exception whose type could not be rebuilt

WorkflowInterrupt (BaseException: user ``except Exception`` must not swallow it)
├── CancelledInterrupt          the workflow was cancelled; stop at this boundary
├── LeaseLostInterrupt          another executor holds the workflow now; stop writing
├── DrainingInterrupt           this executor is shutting down; leave the workflow to a peer
└── StoreUnavailableInterrupt   the database is away; stop, the executor re-runs it later
"""

from __future__ import annotations

import asyncio
from typing import Any


class TetherError(Exception):
    """Base class of every error tether raises on purpose."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or self.__class__.__name__).strip())


class ConfigurationError(TetherError):
    """Invalid configuration or arguments."""


class NotInWorkflowError(TetherError):
    """This call only works inside a running workflow."""


class SerializationError(TetherError):
    """A value could not be serialized to JSON."""


class WorkflowNotFoundError(TetherError):
    """No workflow with this id exists in this app."""


class WorkflowConflictError(TetherError):
    """A workflow id was reused for a different workflow function."""


class DeduplicatedError(WorkflowConflictError):
    """A queue already holds an open workflow with this deduplication id."""

    def __init__(self, queue: str, dedup_id: str, holder_id: str) -> None:
        self.queue = queue
        self.dedup_id = dedup_id
        self.holder_id = holder_id
        super().__init__(
            f"queue {queue!r} already has open workflow {holder_id!r} with dedup id "
            f"{dedup_id!r}: wait for it to finish, or enqueue with on_duplicate="
            "'return_existing' to get its handle instead"
        )


class SchemaError(TetherError):
    """The database schema is missing, too old or too new for this code."""


class DatabaseUnavailableError(TetherError):
    """The database stayed unreachable past the connection-retry deadline."""


class ResultTimeoutError(TetherError, TimeoutError):
    """Waited longer than the given timeout."""


class WorkflowFailedError(TetherError):
    """The workflow ended in ERROR."""


class WorkflowCancelledError(TetherError):
    """The workflow was cancelled."""


class WorkflowTimeoutError(WorkflowCancelledError):
    """The workflow ran past its timeout, and was cancelled with its children."""

    def __init__(self, workflow_id: str, timeout_ms: int | None) -> None:
        self.workflow_id = workflow_id
        self.timeout_ms = timeout_ms
        length = f" of {timeout_ms / 1000:g} s" if timeout_ms is not None else ""
        super().__init__(
            f"workflow {workflow_id!r} passed its deadline (timeout{length}) and was "
            "cancelled with its children; resume it to run it again with a fresh deadline"
        )

    def to_fields(self) -> dict[str, Any]:
        return {"workflow_id": self.workflow_id, "timeout_ms": self.timeout_ms}


class StepTimeoutError(TetherError):
    """One attempt of a step ran longer than the step's timeout."""


class WorkflowParkedError(TetherError):
    """The workflow is parked until its code is fixed; see its error, then resume it."""


class StoredError(TetherError):
    """An exception recorded in history whose original type could not be rebuilt here."""

    def __init__(self, type_name: str, message: str) -> None:
        self.type_name = type_name
        self.original_message = message
        super().__init__(f"{type_name}: {message}")


class NondeterminismError(TetherError):
    """Recorded history does not match what the workflow code does at a position."""

    def __init__(
        self,
        *,
        workflow_id: str,
        position: int,
        recorded: str,
        requested: str,
        nearest_patch: str | None = None,
        recorded_version: str | None = None,
        detail: str = "",
        code_version: str | None = None,
        finished: bool = False,
    ) -> None:
        self.workflow_id = workflow_id
        self.position = position
        self.recorded = recorded
        self.requested = requested
        self.nearest_patch = nearest_patch
        self.recorded_version = recorded_version
        self.code_version = code_version
        self.finished = finished  # a finished run (from a test's history file, say)
        self.detail = detail
        patch = f"; nearest patch gate: {nearest_patch!r}" if nearest_patch else ""
        version = ""
        if recorded_version:
            code = f", this code is version {code_version!r}" if code_version else ""
            version = f" (history written by version {recorded_version!r}{code})"
        msg = (
            f"workflow {workflow_id!r} diverged from its history at position {position}{version}: "
            f"recorded {recorded}, the code asked for {requested}{patch}."
        )
        if detail:
            msg += "\n" + detail
        super().__init__(msg + "\n" + self.how_to_fix())

    def how_to_fix(self) -> str:
        """The ways out, most specific first; the workflow is left intact until one is taken."""
        wid, pos, old = self.workflow_id, self.position, self.recorded_version
        then = (
            "this run finished: change the code so that it replays"
            if self.finished
            else f"then resume it: `tether workflows resume {wid}`"
        )
        lines = [
            f"  how to fix it ({then}):",
            "    - guard the change so runs recorded before it keep the old path: "
            f'`if tether.patch("<change-name>"): <new code> else: <old code>` at position {pos}'
            + (
                f" (or, if it belongs to patch {self.nearest_patch!r}, inside that gate)"
                if self.nearest_patch
                else ""
            ),
        ]
        if old and old == self.code_version:
            lines.append(
                f"    - this code reports the version that wrote the history ({old!r}) yet "
                "does something else: give changed code a new version, and run this "
                "workflow on the code that wrote it"
            )
        elif old:
            lines.append(
                f"    - or pin it back: let an executor of version {old!r} run it (do not "
                f"list {old!r} in compatible_with of code that cannot replay it)"
            )
        if self.finished:  # nothing open to resume or migrate; a fork starts anew
            lines.append(
                "    - or fork it before the divergence onto this code "
                f"(`tether workflows fork {wid} --position {pos}`)"
            )
            return "\n".join(lines)
        lines.append(
            "    - or fork it before the divergence onto this code "
            f"(`tether workflows fork {wid} --position {pos}`), or move it to a version "
            "whose code replays it (`tether workflows migrate --from ... --to ...`)"
        )
        return "\n".join(lines)

    def __reduce__(self) -> tuple[Any, ...]:  # keyword-only: copy and pickle by fields
        return _rebuild, (type(self), self.to_fields())

    def to_fields(self) -> dict[str, Any]:
        return {
            "workflow_id": self.workflow_id,
            "position": self.position,
            "recorded": self.recorded,
            "requested": self.requested,
            "nearest_patch": self.nearest_patch,
            "recorded_version": self.recorded_version,
            "code_version": self.code_version,
            "detail": self.detail,
            "finished": self.finished,
        }


def _rebuild(cls: type[TetherError], fields: dict[str, Any]) -> TetherError:
    return cls(**fields)


class WorkflowInterrupt(BaseException):  # noqa: N818 - control flow, not an error
    """Stops a workflow run at a step boundary without recording anything."""


class CancelledInterrupt(WorkflowInterrupt):
    """The workflow was cancelled."""


class LeaseLostInterrupt(WorkflowInterrupt):
    """This executor no longer holds the workflow (another executor claimed it)."""


class DrainingInterrupt(WorkflowInterrupt):
    """This executor is shutting down; a peer will continue the workflow."""


class SuspendedInterrupt(WorkflowInterrupt):
    """The workflow is suspended in a durable wait: its wake condition is in the database and
    it holds no lease; any executor of its version resumes it by replay when the wait ends."""


class StoreUnavailableInterrupt(WorkflowInterrupt):
    """A write of this run failed on the database past the retry deadline: the run stops
    without recording an outcome (a database fault is not the workflow's error), and the
    executor's self-audit runs it again from its history once the database is back."""


# What ends a run without ending the workflow: the runtime's own interrupts, and a crash of
# the process (Ctrl-C, ``sys.exit`` in a step, a cancelled task). Nothing is recorded, so the
# workflow stays open and is recovered like any other that an executor stopped running.
NOT_AN_OUTCOME: tuple[type[BaseException], ...] = (
    WorkflowInterrupt,
    KeyboardInterrupt,
    SystemExit,
    asyncio.CancelledError,
)
