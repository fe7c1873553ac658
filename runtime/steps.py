"""Step execution: replay from history, or run with retries and checkpoint the outcome.

Before every attempt the run checks that it still holds its lease (runtime.selfcheck): a
paused process must not run a step a peer has since checkpointed. The attempt loop is
written once, as a generator (:func:`attempt_loop`) that says what to do
next: call the function, or back off for some seconds. A sync and an async driver carry it
out; they differ only in how they call the user's function and how they wait. Backoff goes
through the context's wait, so a cancel or a drain interrupts it in both colours.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import threading
import time
from collections.abc import Awaitable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import serialization
from .clock import now_ms
from .context import _IN_STEP, WorkflowContext, maybe_current
from .errors import SerializationError, StepTimeoutError, WorkflowInterrupt
from .records import OperationRecord

if TYPE_CHECKING:
    from .observe import StepObservation
    from .registry import StepDef

STEP = "step"


@dataclass(frozen=True, slots=True)
class Done:
    """How the attempts ended: a value, or the error to record (after ``attempts`` tries)."""

    value: Any
    error: Exception | None
    attempts: int


class _Call:
    """Attempt loop request: call the step's function once and send back (value, error)."""


CALL = _Call()
Attempted = tuple[Any, Exception | None]


def attempt_loop(sdef: StepDef) -> Generator[_Call | float, Attempted | None, Done]:
    """Yields CALL (send the attempt's outcome back) or a backoff in seconds; returns Done."""
    attempt = 0
    while True:
        attempt += 1
        outcome = yield CALL
        assert outcome is not None
        value, error = outcome
        if error is None:
            return Done(value, None, attempt)
        if (
            attempt > sdef.retries
            or not isinstance(error, sdef.retry_on)
            or isinstance(error, SerializationError)
        ):
            return Done(None, error, attempt)
        yield sdef.delay(attempt)


def _run_sync(
    ctx: WorkflowContext | None,
    sdef: StepDef,
    args: Any,
    kwargs: Any,
    seen: StepObservation | None = None,
) -> Done:
    loop = attempt_loop(sdef)
    try:
        request = next(loop)
        while True:
            if isinstance(request, _Call):
                if ctx is not None and not ctx.recorder.lease_ok(ctx):
                    ctx.recorder.revalidate(ctx)  # or stop: a peer may hold it now
                token = _IN_STEP.set(True)
                try:
                    attempted: Attempted = (_call_sync(sdef, args, kwargs), None)
                except WorkflowInterrupt:
                    raise
                except Exception as exc:  # noqa: BLE001 - recorded or retried
                    attempted = (None, exc)
                finally:
                    _IN_STEP.reset(token)
                request = loop.send(attempted)
                if seen is not None and attempted[1] is not None and not isinstance(request, _Call):
                    seen.retrying(attempted[1], request)
            else:
                if ctx is None:
                    time.sleep(request)
                else:
                    ctx.backoff(request)
                request = next(loop)
    except StopIteration as stop:
        done: Done = stop.value
        return done


async def _run_async(
    ctx: WorkflowContext | None,
    sdef: StepDef,
    args: Any,
    kwargs: Any,
    seen: StepObservation | None = None,
) -> Done:
    loop = attempt_loop(sdef)
    try:
        request = next(loop)
        while True:
            if isinstance(request, _Call):
                if ctx is not None and not ctx.recorder.lease_ok(ctx):
                    revalidate = functools.partial(ctx.recorder.revalidate, ctx)
                    await ctx.recorder.in_io(revalidate)  # or stop (see selfcheck)
                token = _IN_STEP.set(True)
                try:
                    result = sdef.fn(*args, **kwargs)
                    if asyncio.iscoroutine(result):
                        if sdef.timeout is None:
                            result = await result
                        else:
                            result = await _within(sdef, result)
                    attempted: Attempted = (result, None)
                except WorkflowInterrupt:
                    raise
                except Exception as exc:  # noqa: BLE001 - recorded or retried
                    attempted = (None, exc)
                finally:
                    _IN_STEP.reset(token)
                request = loop.send(attempted)
                if seen is not None and attempted[1] is not None and not isinstance(request, _Call):
                    seen.retrying(attempted[1], request)
            else:
                if ctx is None:
                    await asyncio.sleep(request)
                else:
                    await ctx.backoff_async(request)
                request = next(loop)
    except StopIteration as stop:
        done: Done = stop.value
        return done


def _timed_out(sdef: StepDef) -> StepTimeoutError:
    return StepTimeoutError(
        f"step {sdef.name!r} did not finish within its timeout of {sdef.timeout} s "
        "(the attempt counts as failed; retries follow the step's retry policy)"
    )


def _call_sync(sdef: StepDef, args: Any, kwargs: Any) -> Any:
    """One attempt; with a timeout, in a thread of its own that is abandoned (left to
    finish on its own: Python cannot stop a thread) when the time is up."""
    if sdef.timeout is None:
        return sdef.fn(*args, **kwargs)
    box: list[Any] = []
    failed: list[BaseException] = []

    def attempt() -> None:
        try:
            box.append(sdef.fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            failed.append(exc)

    runner = threading.Thread(target=contextvars.copy_context().run, args=(attempt,), daemon=True)
    runner.name = f"tether-step-{sdef.name}"
    runner.start()
    runner.join(sdef.timeout)
    if runner.is_alive():
        raise _timed_out(sdef)
    if failed:
        raise failed[0]
    return box[0]


async def _within(sdef: StepDef, coro: Any) -> Any:
    """Await one attempt, cancelled when the step's timeout is up."""
    try:
        return await asyncio.wait_for(coro, sdef.timeout)
    except TimeoutError:
        raise _timed_out(sdef) from None


def replay_value(rec: OperationRecord) -> Any:
    """The recorded outcome: the value, or an equivalent of the recorded exception raised."""
    if rec.error is not None:
        raise serialization.error_from_json(json.loads(rec.error))
    return serialization.loads(rec.output)


def _checkpoint(
    ctx: WorkflowContext, sdef: StepDef, pos: int, started: int, done: Done
) -> tuple[OperationRecord, BaseException | None]:
    """The operation recording ``done``; an unserializable value becomes the step's error."""
    error: BaseException | None = done.error
    output = error_json = None
    if error is None:
        try:
            where = f"workflow {ctx.workflow_id!r} step {sdef.name!r} (position {pos}) output"
            output = serialization.dumps(done.value, where)
        except SerializationError as exc:
            error = exc
    if error is not None:
        error_json = json.dumps(serialization.error_to_json(error))
    op = OperationRecord(
        pos, STEP, sdef.name, output, error_json, attempts=done.attempts, started_at=started
    )
    return op, error


def _plain(done: Done) -> Any:
    if done.error is not None:
        raise done.error
    return done.value


def call(sdef: StepDef, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A sync step: from history when recorded, else run and checkpoint."""
    ctx = maybe_current()
    if ctx is None:
        return _plain(_run_sync(None, sdef, args, kwargs))
    pos = ctx.reserve()
    rec = ctx.replay_or_none(pos, STEP, sdef.name)
    if rec is not None:
        return replay_value(rec)
    ctx.check_interrupt()
    row = ctx.take_pending_row()
    if row is not None:
        row.wait()
    started = now_ms()
    if ctx.observed is None:
        done = _run_sync(ctx, sdef, args, kwargs)
        op, error = _checkpoint(ctx, sdef, pos, started, done)
    else:
        seen = ctx.observed.step(sdef.name, pos)
        try:
            done = _run_sync(ctx, sdef, args, kwargs, seen)
            op, error = _checkpoint(ctx, sdef, pos, started, done)
        except BaseException as exc:  # an interrupt: the step stopped without an outcome
            seen.ended(0, exc)
            raise
        seen.ended(done.attempts, error)
    ctx.record(op)
    if error is not None:
        raise error
    return done.value


def call_async(sdef: StepDef, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Awaitable[Any]:
    """An async step: the position is reserved now (call order), it runs when awaited."""
    ctx = maybe_current()
    if ctx is None:
        return _plain_async(sdef, args, kwargs)
    pos = ctx.reserve()
    try:
        rec = ctx.replay_or_none(pos, STEP, sdef.name)
    except BaseException as exc:  # noqa: BLE001 - raised when awaited
        return _raise(exc)
    if rec is not None:
        return ctx.track(pos, _replayed(rec))
    return ctx.track(pos, _step_async(ctx, sdef, pos, args, kwargs))


async def _step_async(
    ctx: WorkflowContext, sdef: StepDef, pos: int, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    ctx.check_interrupt()
    row = ctx.take_pending_row()
    if row is not None:
        await ctx.recorder.in_io(row.wait)
    started = now_ms()
    if ctx.observed is None:
        done = await _run_async(ctx, sdef, args, kwargs)
        op, error = _checkpoint(ctx, sdef, pos, started, done)
    else:
        seen = ctx.observed.step(sdef.name, pos)
        try:
            done = await _run_async(ctx, sdef, args, kwargs, seen)
            op, error = _checkpoint(ctx, sdef, pos, started, done)
        except BaseException as exc:  # an interrupt: the step stopped without an outcome
            seen.ended(0, exc)
            raise
        seen.ended(done.attempts, error)
    await ctx.arecord(op)
    if error is not None:
        raise error
    return done.value


async def _plain_async(sdef: StepDef, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return _plain(await _run_async(None, sdef, args, kwargs))


async def _raise(exc: BaseException) -> Any:
    raise exc


async def _replayed(rec: OperationRecord) -> Any:
    return replay_value(rec)
