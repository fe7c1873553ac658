"""Handles to workflows: wait for results, read status."""

from __future__ import annotations

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
from .waiting import Waiter

if TYPE_CHECKING:
    from .context import WorkflowContext


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
        if error:  # cancelled for a reason: its deadline passed
            exc = serialization.error_from_json(error)
            if isinstance(exc, WorkflowCancelledError):
                raise exc
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
    """A reference to a workflow by id; cheap to create, safe to share.

    It waits through a :class:`~tether.runtime.waiting.Waiter`: an engine's wakes it as soon
    as a local workflow ends; otherwise it polls, backing off to the waiter's interval.
    """

    def __init__(self, waiter: Waiter, workflow_id: str) -> None:
        self._waiter = waiter
        self.workflow_id = workflow_id

    def __repr__(self) -> str:
        return f"WorkflowHandle({self.workflow_id!r})"

    def get(self) -> WorkflowRecord:
        rec = self._waiter.workflow(self.workflow_id)
        if rec is None:
            raise WorkflowNotFoundError(f"no workflow {self.workflow_id!r} in this app")
        return rec

    def status(self) -> str:
        return self.get().status

    def _finished(self) -> WorkflowRecord | None:
        rec = self.get()
        return None if rec.status in Status.RUNNABLE else rec

    def _timeout(self, timeout: float | None) -> ResultTimeoutError:
        return ResultTimeoutError(
            f"workflow {self.workflow_id!r} did not finish within {timeout} s"
        )

    def result(
        self, timeout: float | None = None, *, interrupt: WorkflowContext | None = None
    ) -> Any:
        """Wait for the workflow to finish and return its output (or raise its error)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        poll = 0.005
        signal = self._waiter.signal
        while True:
            generation = signal.generation
            rec = self._finished()
            if rec is not None:
                return outcome_of(rec)
            if interrupt is not None:
                interrupt.check_interrupt()
            wait = poll
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._timeout(timeout)
                wait = min(wait, left)
            signal.wait(generation, wait)
            poll = min(poll * 2, self._waiter.poll_interval)

    async def result_async(
        self, timeout: float | None = None, *, interrupt: WorkflowContext | None = None
    ) -> Any:
        """``result`` for async code: waits on the same signal, holding no thread."""
        import asyncio

        deadline = None if timeout is None else time.monotonic() + timeout
        poll = 0.005
        signal = self._waiter.signal
        while True:
            generation = signal.generation
            rec = await asyncio.to_thread(self._finished)
            if rec is not None:
                return outcome_of(rec)
            if interrupt is not None:
                interrupt.check_interrupt()
            wait = poll
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._timeout(timeout)
                wait = min(wait, left)
            await signal.wait_async(generation, wait)
            poll = min(poll * 2, self._waiter.poll_interval)
