"""Durable streams: a workflow appends values under a key; anyone reads them by offset.

``write_stream`` is an operation recorded at a position, like a step: the entry and the
operation commit together under the run's lease, so recovery never duplicates or loses an
entry (a replayed write finds its operation and writes nothing). Readers are resumable:
the n-th value read from ``offset`` is at offset ``offset + n``, so a reader that stops can
continue where it left off. A stream ends when the workflow closes it or finishes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass
from typing import Any

from . import serialization
from .context import WorkflowContext, current
from .errors import ConfigurationError, WorkflowNotFoundError
from .records import OperationRecord, Status
from .store import Store
from .waiting import Waiter

STREAM, CLOSE_STREAM = "stream", "close_stream"
PAGE = 1000  # entries per read


def _key(key: str) -> str:
    if not isinstance(key, str) or not key or len(key) > 255:
        raise ConfigurationError(
            f"stream key must be a non-empty string (<= 255 chars), got {key!r}"
        )
    return key


def _append(
    ctx: WorkflowContext, kind: str, key: str, value: Any, closing: bool
) -> tuple[OperationRecord, Any] | None:
    """The operation to record at the next position (None: already recorded, replaying)."""
    pos = ctx.reserve()
    if ctx.replay_or_none(pos, kind, key) is not None:
        return None
    ctx.check_interrupt()
    value_json = (
        None
        if closing
        else serialization.dumps(value, f"workflow {ctx.workflow_id!r} stream {key!r}")
    )
    wid = ctx.workflow_id

    def then(conn: Any, store: Store) -> None:
        store.streams.append(conn, wid, key, value_json, pos)

    return OperationRecord(pos, kind, key, output=value_json), then


def write_stream(key: str, value: Any) -> None:
    """Append ``value`` to this workflow's stream ``key`` (exactly once across recovery)."""
    ctx = current("tether.write_stream()")
    op = _append(ctx, STREAM, _key(key), value, closing=False)
    if op is not None:
        ctx.record(*op)
        ctx.recorder.notify()


def write_stream_async(key: str, value: Any) -> Awaitable[None]:
    """``write_stream`` for async workflows (the position is taken at the call)."""
    ctx = current("tether.write_stream_async()")
    pos = ctx.next_position
    op = _append(ctx, STREAM, _key(key), value, closing=False)
    return ctx.track(pos, _record_async(ctx, op))


def close_stream(key: str) -> None:
    """End stream ``key`` early (readers stop); every stream ends with its workflow."""
    ctx = current("tether.close_stream()")
    op = _append(ctx, CLOSE_STREAM, _key(key), None, closing=True)
    if op is not None:
        ctx.record(*op)
        ctx.recorder.notify()


async def _record_async(ctx: WorkflowContext, op: tuple[OperationRecord, Any] | None) -> None:
    if op is not None:
        await ctx.arecord(*op)
        ctx.recorder.notify()


@dataclass(frozen=True)
class StreamChunk:
    """What a stream holds from an offset now: values, where to read next, whether it ended."""

    values: list[Any]
    next_offset: int
    closed: bool


class StreamReader:
    """Reads streams from outside workflows (an app, a Client), live or after the fact."""

    def __init__(self, store: Store, waiter: Waiter) -> None:
        self.store = store
        self.waiter = waiter

    def chunk(self, workflow_id: str, key: str, offset: int = 0) -> StreamChunk:
        """The values available now from ``offset`` (one read; never waits)."""
        if not isinstance(offset, int) or offset < 0:
            raise ConfigurationError(f"offset must be an integer >= 0, got {offset!r}")
        # The status first: a workflow seen finished has written all it ever will.
        rec = self.waiter.workflow(workflow_id)
        if rec is None:
            raise WorkflowNotFoundError(f"no workflow {workflow_id!r} in this app")
        rows = self.store.streams.read(workflow_id, _key(key), offset, PAGE)
        # Ended: closed by a marker, or the workflow finished and this page is the last.
        closed = rec.status not in Status.OPEN and len(rows) < PAGE
        values: list[Any] = []
        at = offset
        for row in rows:
            if row.value_json is None:
                closed = True
                break
            values.append(serialization.loads(row.value_json))
            at = row.offset + 1
        return StreamChunk(values, at, closed)

    def read(
        self, workflow_id: str, key: str, offset: int = 0, timeout: float | None = 60.0
    ) -> Iterator[Any]:
        """Values from ``offset`` on, live, until the stream ends; stops early when nothing
        new arrived for ``timeout`` seconds (None: wait as long as it takes)."""
        pace = _Pace(timeout, self.waiter.poll_interval)
        while True:
            generation = self.waiter.signal.generation
            got = self.chunk(workflow_id, key, offset)
            yield from got.values
            if got.values:
                offset = got.next_offset
            wait = pace.next(got)
            if wait is None:
                return
            if wait:
                self.waiter.signal.wait(generation, wait)

    async def read_async(
        self, workflow_id: str, key: str, offset: int = 0, timeout: float | None = 60.0
    ) -> AsyncIterator[Any]:
        """``read`` for async code: reads off the event loop, waits holding no thread."""
        pace = _Pace(timeout, self.waiter.poll_interval)
        while True:
            generation = self.waiter.signal.generation
            got = await asyncio.to_thread(self.chunk, workflow_id, key, offset)
            for value in got.values:
                yield value
            if got.values:
                offset = got.next_offset
            wait = pace.next(got)
            if wait is None:
                return
            if wait:
                await self.waiter.signal.wait_async(generation, wait)


class _Pace:
    """How a reader paces itself, shared by the sync and async readers: read again at once
    after new values, else wait with a backoff (5 ms up to the poll interval) until the
    stream closes or ``timeout`` seconds pass with nothing new."""

    def __init__(self, timeout: float | None, poll_interval: float) -> None:
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.poll = 0.005
        self.deadline = self._deadline()

    def _deadline(self) -> float | None:
        return None if self.timeout is None else time.monotonic() + self.timeout

    def next(self, got: StreamChunk) -> float | None:
        """Seconds to wait before the next read (0: at once); None: stop reading."""
        if got.values:
            self.poll = 0.005
            self.deadline = self._deadline()
            return 0.0
        if got.closed:
            return None
        wait = self.poll
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                return None
            wait = min(wait, left)
        self.poll = min(self.poll * 2, self.poll_interval)
        return wait
