"""Handles to workflows: wait for results, read status."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from . import serialization
from .errors import (
    ResultTimeoutError,
    WorkflowCancelledError,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowParkedError,
)
from .records import Status, WorkflowRecord

if TYPE_CHECKING:
    from .context import WorkflowContext
    from .engine import Engine


def outcome_of(rec: WorkflowRecord) -> Any:
    """The result of a finished workflow, or the equivalent exception raised."""
    if rec.status == Status.SUCCESS:
        return rec.output
    error = rec.error or {}
    message = error.get("message", "")
    if rec.status == Status.ERROR:
        exc = serialization.error_from_json(error) if error else None
        raise (
            exc if exc is not None else WorkflowFailedError(f"workflow {rec.workflow_id!r} failed")
        )
    if rec.status == Status.CANCELLED:
        raise WorkflowCancelledError(f"workflow {rec.workflow_id!r} was cancelled")
    if rec.status == Status.PARKED:
        raise WorkflowParkedError(
            f"workflow {rec.workflow_id!r} is parked: {message} "
            f"(fix the code, then `tether workflows resume {rec.workflow_id}`)"
        )
    raise WorkflowFailedError(
        f"workflow {rec.workflow_id!r} ended {rec.status}: "
        f"recovery was attempted {rec.recovery_attempts} times; inspect it and resume it"
    )


class WorkflowHandle:
    """A reference to a workflow by id; cheap to create, safe to share."""

    def __init__(self, engine: Engine, workflow_id: str) -> None:
        self._engine = engine
        self.workflow_id = workflow_id

    def __repr__(self) -> str:
        return f"WorkflowHandle({self.workflow_id!r})"

    def get(self) -> WorkflowRecord:
        rec = self._engine.store.workflows.get(self.workflow_id)
        if rec is None:
            raise WorkflowNotFoundError(f"no workflow {self.workflow_id!r} in this app")
        return rec

    def status(self) -> str:
        return self.get().status

    def _finished(self) -> WorkflowRecord | None:
        rec = self.get()
        return None if rec.status in Status.OPEN else rec

    def result(
        self, timeout: float | None = None, *, interrupt: WorkflowContext | None = None
    ) -> Any:
        """Wait for the workflow to finish and return its output (or raise its error)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        poll = 0.005
        engine = self._engine
        while True:
            generation = engine.generation
            rec = self._finished()
            if rec is not None:
                return outcome_of(rec)
            if interrupt is not None:
                interrupt.check_interrupt()
            wait = poll
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ResultTimeoutError(
                        f"workflow {self.workflow_id!r} did not finish within {timeout} s"
                    )
                wait = min(wait, left)
            with engine.changed:
                if engine.generation == generation:
                    engine.changed.wait(wait)
            poll = min(poll * 2, engine.settings.poll_interval)

    async def result_async(self, timeout: float | None = None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        poll = 0.005
        while True:
            rec = await asyncio.to_thread(self._finished)
            if rec is not None:
                return outcome_of(rec)
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeoutError(
                    f"workflow {self.workflow_id!r} did not finish within {timeout} s"
                )
            await asyncio.sleep(poll)
            poll = min(poll * 2, self._engine.settings.poll_interval)
