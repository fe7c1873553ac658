"""Step execution: replay from history, or run with retries and checkpoint the outcome.

One pipeline for both colours: the decision (replay, divergence, run) and the recording
are shared; only the call of the user's function and the wait between retries differ.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from . import serialization
from .clock import now_ms
from .context import _IN_STEP, WorkflowContext, maybe_current
from .errors import SerializationError, WorkflowInterrupt
from .records import OperationRecord
from .registry import StepDef

if TYPE_CHECKING:
    from .engine import Engine

STEP = "step"


def replay_value(rec: OperationRecord) -> Any:
    """The recorded outcome: the value, or an equivalent of the recorded exception raised."""
    if rec.error is not None:
        raise serialization.error_from_json(json.loads(rec.error))
    return serialization.loads(rec.output)


def _outcome(
    ctx: WorkflowContext, sdef: StepDef, pos: int, value: Any, error: BaseException | None
) -> tuple[str | None, str | None, BaseException | None]:
    """Serialize a step's outcome; an unserializable value becomes the step's error."""
    if error is None:
        try:
            where = f"workflow {ctx.workflow_id!r} step {sdef.name!r} (position {pos}) output"
            return serialization.dumps(value, where), None, None
        except SerializationError as exc:
            error = exc
    return None, json.dumps(serialization.error_to_json(error)), error


def _should_retry(sdef: StepDef, exc: BaseException, attempt: int) -> bool:
    return (
        attempt <= sdef.retries
        and isinstance(exc, sdef.retry_on)
        and not isinstance(exc, SerializationError)
    )


class StepRunner:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- sync ---------------------------------------------------------------------------------

    def call(self, sdef: StepDef, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        ctx = maybe_current()
        if ctx is None:
            return self._attempts(None, sdef, args, kwargs)[0]
        pos = ctx.reserve()
        rec = ctx.replay_or_none(pos, STEP, sdef.name)
        if rec is not None:
            return replay_value(rec)
        ctx.check_interrupt()
        ctx.before_side_effect()
        started = now_ms()
        value, error, attempts = self._attempts(ctx, sdef, args, kwargs)
        output, error_json, error = _outcome(ctx, sdef, pos, value, error)
        ctx.record(
            OperationRecord(
                pos, STEP, sdef.name, output, error_json, attempts=attempts, started_at=started
            )
        )
        if error is not None:
            raise error
        return value

    def _attempts(
        self,
        ctx: WorkflowContext | None,
        sdef: StepDef,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> tuple[Any, BaseException | None, int]:
        attempt = 0
        while True:
            attempt += 1
            token = _IN_STEP.set(True)
            try:
                return sdef.fn(*args, **kwargs), None, attempt
            except WorkflowInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded or retried
                if not _should_retry(sdef, exc, attempt):
                    if ctx is None:
                        raise
                    return None, exc, attempt
            finally:
                _IN_STEP.reset(token)
            delay = sdef.delay(attempt)
            if ctx is None:
                time.sleep(delay)
            else:
                ctx.interrupt.wait(delay)
                ctx.check_interrupt()

    # -- async --------------------------------------------------------------------------------

    def call_async(
        self, sdef: StepDef, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Awaitable[Any]:
        """Reserve the position now (call order), run when awaited."""
        ctx = maybe_current()
        if ctx is None:
            return self._attempts_async(None, sdef, args, kwargs, plain=True)
        pos = ctx.reserve()
        try:
            rec = ctx.replay_or_none(pos, STEP, sdef.name)
        except BaseException as exc:  # noqa: BLE001 - raised when awaited
            return _raise(exc)
        if rec is not None:
            return ctx.track(pos, _replayed(rec))
        return ctx.track(pos, self._run_async(ctx, sdef, pos, args, kwargs))

    async def _run_async(
        self,
        ctx: WorkflowContext,
        sdef: StepDef,
        pos: int,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        ctx.check_interrupt()
        started = now_ms()
        value, error, attempts = await self._attempts_async(ctx, sdef, args, kwargs)
        output, error_json, error = _outcome(ctx, sdef, pos, value, error)
        await ctx.arecord(
            OperationRecord(
                pos, STEP, sdef.name, output, error_json, attempts=attempts, started_at=started
            )
        )
        if error is not None:
            raise error
        return value

    async def _attempts_async(
        self,
        ctx: WorkflowContext | None,
        sdef: StepDef,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        plain: bool = False,
    ) -> Any:
        attempt = 0
        while True:
            attempt += 1
            token = _IN_STEP.set(True)
            try:
                result = sdef.fn(*args, **kwargs)
                if asyncio.iscoroutine(result):
                    result = await result
                return result if plain else (result, None, attempt)
            except WorkflowInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded or retried
                if not _should_retry(sdef, exc, attempt):
                    if ctx is None:
                        raise
                    return None, exc, attempt
            finally:
                _IN_STEP.reset(token)
            await asyncio.sleep(sdef.delay(attempt))
            if ctx is not None:
                ctx.check_interrupt()


async def _raise(exc: BaseException) -> Any:
    raise exc


async def _replayed(rec: OperationRecord) -> Any:
    return replay_value(rec)
