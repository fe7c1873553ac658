"""Durable sleep, messages and events: operations recorded at positions like steps.

Waits are durable: a sleep records its wake-up time, a recv with a timeout records its
deadline, so a workflow recovered elsewhere waits only for what is left. Waiting wakes on
local notifications at once and polls the database for work done by other processes.
Operations that wait have an ``_async`` twin that reserves its position at call time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Coroutine
from typing import TYPE_CHECKING, Any

from . import serialization
from .clock import now_ms
from .context import WorkflowContext, current, maybe_current, sync_only
from .errors import ConfigurationError, WorkflowNotFoundError
from .recorder import RECV
from .records import OperationRecord, WorkflowRecord
from .suspension import EVENT as EVENT_WAIT
from .suspension import RECV as RECV_WAIT
from .suspension import SLEEP as SLEEP_WAIT
from .suspension import Wait
from .waiting import Waiter

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from .store import Store

SLEEP, DEADLINE, SEND, SET_EVENT, GET_EVENT = (
    "sleep",
    "deadline",
    "send",
    "set_event",
    "get_event",
)
_FOREVER = 10 * 365 * 24 * 3600.0
_HOUR = 3600.0


def _check_seconds(seconds: float | None, what: str) -> float:
    if seconds is None:
        return _FOREVER
    if not isinstance(seconds, (int, float)) or seconds < 0 or seconds != seconds:
        raise ConfigurationError(f"{what} must be a number of seconds >= 0, got {seconds!r}")
    return float(seconds)


def _deadline(ctx: WorkflowContext, name: str, seconds: float, kind: str = DEADLINE) -> int:
    """Reserve a position holding an absolute wake-up time (recorded once, replayed after)."""
    pos = ctx.reserve()
    rec = ctx.replay_or_none(pos, kind, name)
    if rec is not None:
        return int(serialization.loads(rec.output))
    ctx.check_interrupt()
    wake_at = now_ms() + int(seconds * 1000)
    ctx.record(OperationRecord(pos, kind, name, output=str(wake_at)))
    return wake_at


# -- sleep ------------------------------------------------------------------------------------


def sleep(seconds: float) -> None:
    """Durable sleep: survives restarts and wakes at the recorded time."""
    ctx = current("tether.sleep()")
    sync_only(ctx, "sleep")
    pos = ctx.next_position  # reserved by _deadline
    wake_at = _deadline(ctx, SLEEP, _check_seconds(seconds, "sleep()"), kind=SLEEP)
    durable = Wait(SLEEP_WAIT, pos, wake_at)
    while now_ms() < wake_at:
        ctx.wait(wake_at, _HOUR, durable=durable)


def sleep_async(seconds: float) -> Awaitable[None]:
    ctx = current("tether.sleep_async()")
    pos = ctx.next_position  # reserved by _deadline
    wake_at = _deadline(ctx, SLEEP, _check_seconds(seconds, "sleep_async()"), kind=SLEEP)

    async def run() -> None:
        durable = Wait(SLEEP_WAIT, pos, wake_at)
        while now_ms() < wake_at:
            await ctx.wait_async(wake_at, _HOUR, durable=durable)

    return ctx.track(pos, run())


# -- messages ---------------------------------------------------------------------------------


def _topic(topic: str | None) -> str:
    if topic is not None and (not isinstance(topic, str) or len(topic) > 255):
        raise ConfigurationError("topic must be a string of at most 255 characters or None")
    return topic or ""


def check_idempotency_key(key: str | None) -> str | None:
    if key is not None and (not isinstance(key, str) or not key or len(key) > 255):
        raise ConfigurationError(
            f"idempotency_key must be a non-empty string of at most 255 characters, got {key!r}"
        )
    return key


def missing_destination(dest_id: str, app_name: str | None = None) -> WorkflowNotFoundError:
    """The error for a message to a workflow that does not exist: a typo in an id must not
    lose the message (an approval, say) silently."""
    where = f" in app {app_name!r}" if app_name else ""
    return WorkflowNotFoundError(
        f"no workflow {dest_id!r}{where} to send to: check the id (`tether workflows list`), "
        "or pass allow_missing=True (`--allow-missing`) to send ahead of a workflow you will "
        "start with that id"
    )


def check_destination(
    dest_id: str, dest: WorkflowRecord | None, *, allow_missing: bool, app_name: str | None
) -> None:
    """The one check every send makes (app.send, Client.send, tether.send)."""
    if dest is None and not allow_missing:
        raise missing_destination(dest_id, app_name)


def send(
    dest_id: str,
    message: Any,
    topic: str | None = None,
    *,
    allow_missing: bool = False,
    idempotency_key: str | None = None,
) -> None:
    """Send ``message`` to workflow ``dest_id`` (exactly once, also when called on replay).

    A destination that does not exist raises WorkflowNotFoundError (recorded, so a replay
    raises it again) unless ``allow_missing``: then the message waits for that id.
    ``idempotency_key``: a second send with the same key to the same workflow, from any run
    or process, delivers nothing (a retried webhook delivers once).
    """
    ctx = maybe_current()
    t = _topic(topic)
    key = check_idempotency_key(idempotency_key)
    if ctx is None:
        raise ConfigurationError("tether.send() outside a workflow: use app.send(...)")
    pos = ctx.reserve()
    rec = ctx.replay_or_none(pos, SEND, t)
    if rec is not None:
        if rec.error is not None:
            raise serialization.error_from_json(json.loads(rec.error))
        return
    ctx.check_interrupt()
    payload = serialization.dumps(message, f"workflow {ctx.workflow_id!r} send to {dest_id!r}")
    target = json.dumps(dest_id)
    try:
        dest = ctx.recorder.waiter.workflow(dest_id)
        check_destination(dest_id, dest, allow_missing=allow_missing, app_name=None)
    except WorkflowNotFoundError as exc:
        error = json.dumps(serialization.error_to_json(exc))
        ctx.record(OperationRecord(pos, SEND, t, output=target, error=error))
        raise
    ctx.record(
        OperationRecord(pos, SEND, t, output=target),
        lambda conn, store: store.messages.send(conn, dest_id, t, payload, key),
    )
    ctx.recorder.notify_addressee(dest_id, t)


def deliver(
    store: Store,
    dest_id: str,
    message: Any,
    topic: str | None = None,
    *,
    allow_missing: bool = False,
    idempotency_key: str | None = None,
) -> bool:
    """Send from outside any workflow (``app.send``, ``Client.send``): the destination is
    checked in the transaction that writes the message. False when ``idempotency_key`` was
    used before for this workflow (nothing is delivered again)."""
    t = _topic(topic)
    key = check_idempotency_key(idempotency_key)
    payload = serialization.dumps(message, f"message to {dest_id!r}")

    def write(conn: Connection) -> bool:
        dest = store.workflows.get(dest_id, conn=conn)
        check_destination(dest_id, dest, allow_missing=allow_missing, app_name=store.app_name)
        return store.messages.send(conn, dest_id, t, payload, key)

    if key is not None:
        # Repeatable: the key is inserted if absent. A repeat whose first commit was
        # acknowledged to no one delivers nothing again (and reports False).
        return store.db.writing(write, what="send a message")
    # Not repeated on a broken connection: without an idempotency key, a repeat whose first
    # commit was acknowledged to no one would deliver the message twice.
    with store.db.write() as conn:
        return write(conn)


def recv(topic: str | None = None, timeout: float | None = None) -> Any:
    """Receive the oldest message sent to this workflow on ``topic``; None on timeout."""
    ctx = current("tether.recv()")
    sync_only(ctx, "recv")
    t = _topic(topic)
    until = _deadline(ctx, f"recv:{t}", _check_seconds(timeout, "recv() timeout"))
    pos = ctx.reserve()
    rec = ctx.replay_or_none(pos, RECV, t)
    if rec is not None:
        return serialization.loads(rec.output)
    recorder = ctx.recorder
    started = now_ms()
    durable = Wait(RECV_WAIT, pos, None if timeout is None else until, t)
    with recorder.addressed(ctx, t):  # a send to this workflow (or an interrupt) wakes it
        while True:
            ctx.check_interrupt()
            found, value = recorder.consume(ctx, pos, t, started)
            if found:
                return value
            if now_ms() >= until:
                ctx.record(OperationRecord(pos, RECV, t, output=None, started_at=started))
                return None
            ctx.wait(until, recorder.recv_poll, durable=durable)


def recv_async(topic: str | None = None, timeout: float | None = None) -> Awaitable[Any]:
    ctx = current("tether.recv_async()")
    t = _topic(topic)
    until = _deadline(ctx, f"recv:{t}", _check_seconds(timeout, "recv_async() timeout"))
    pos = ctx.reserve()
    rec = ctx.replay_or_none(pos, RECV, t)

    async def run() -> Any:
        if rec is not None:
            return serialization.loads(rec.output)
        recorder = ctx.recorder
        started = now_ms()
        durable = Wait(RECV_WAIT, pos, None if timeout is None else until, t)
        with recorder.addressed(ctx, t):  # a send to this workflow (or an interrupt) wakes it
            while True:
                ctx.check_interrupt()
                found, value = await recorder.in_io(lambda: recorder.consume(ctx, pos, t, started))
                if found:
                    return value
                if now_ms() >= until:
                    op = OperationRecord(pos, RECV, t, output=None, started_at=started)
                    await ctx.arecord(op)
                    return None
                await ctx.wait_async(until, recorder.recv_poll, durable=durable)

    return ctx.track(pos, run())


# -- events -----------------------------------------------------------------------------------


def _key(key: str) -> str:
    if not isinstance(key, str) or not key or len(key) > 255:
        raise ConfigurationError(
            f"event key must be a non-empty string (<= 255 chars), got {key!r}"
        )
    return key


def set_event(key: str, value: Any) -> None:
    """Publish ``value`` under ``key`` for this workflow (readable with app.get_event)."""
    ctx = current("tether.set_event()")
    k = _key(key)
    pos = ctx.reserve()
    if ctx.replay_or_none(pos, SET_EVENT, k) is not None:
        return
    ctx.check_interrupt()
    value_json = serialization.dumps(value, f"workflow {ctx.workflow_id!r} event {k!r}")
    ctx.record(
        OperationRecord(pos, SET_EVENT, k, output=value_json),
        lambda conn, store: store.messages.set_event(conn, ctx.workflow_id, k, value_json),
    )
    ctx.recorder.event_set(ctx.workflow_id, k)


def wait_event(
    waiter: Waiter, workflow_id: str, key: str, timeout: float | None
) -> tuple[bool, Any]:
    """Wait for an event outside workflow context: (found, value)."""
    k = _key(key)
    deadline = time.monotonic() + _check_seconds(timeout, "get_event() timeout")
    poll = 0.005
    with waiter.watching(workflow_id, k) as signal:  # only this event wakes it
        while True:
            generation = signal.generation
            value_json = waiter.event(workflow_id, k)
            if value_json is not None:
                return True, serialization.loads(value_json)
            left = deadline - time.monotonic()
            if left <= 0:
                return False, None
            signal.wait(generation, min(poll, left))
            poll = min(poll * 2, waiter.poll_interval)


def event_name(ctx: WorkflowContext, workflow_id: str, key: str) -> str:
    """What a ``get_event`` records as its name: ``<workflow id>:<key>``, with the workflow's
    own id left out (``:<key>``), so a fork (a new id) reading its own events replays."""
    if workflow_id != ctx.workflow_id:
        return f"{workflow_id}:{key}"
    legacy = f"{workflow_id}:{key}"  # how own reads were recorded before: still replays
    rec = ctx.history.get(ctx.next_position)
    if rec is not None and rec.kind == GET_EVENT and rec.name == legacy:
        return legacy
    return f":{key}"


def _event_deadline(
    ctx: WorkflowContext, name: str, timeout: float | None, what: str
) -> int | None:
    """The recorded deadline of a ``get_event`` from workflow code (None: it waits forever).

    A finite timeout is recorded like recv's (``_deadline``, at the position before the
    read), so a run resumed after a crash or a suspension waits only for what is left and
    times out at the same moment. A history that recorded the read itself next was written
    before reads kept their deadline: it replays as it is, with no deadline position.
    """
    if timeout is None:
        return None
    seconds = _check_seconds(timeout, f"{what} timeout")
    rec = ctx.peek()
    if rec is not None and rec.kind == GET_EVENT and rec.name == name:
        return None
    return _deadline(ctx, f"{GET_EVENT}:{name}", seconds)


def _event_wait(workflow_id: str, key: str, pos: int, until: int | None) -> tuple[Wait, int]:
    """The durable wait of a ``get_event`` at ``pos``, and the time it gives up (epoch ms)."""
    durable = Wait(EVENT_WAIT, pos, until, topic=key, target=workflow_id)
    return durable, now_ms() + int(_FOREVER * 1000) if until is None else until


def _wait_event_durably(
    ctx: WorkflowContext, pos: int, workflow_id: str, key: str, until: int | None
) -> tuple[bool, Any]:
    """Wait for an event from workflow code until ``until`` (epoch ms; None: forever): past
    the grace it suspends; it resumes when the event is set or at the deadline. Like recv,
    it looks before it gives up: a value there when it looks is taken."""
    waiter = ctx.recorder.waiter
    durable, give_up = _event_wait(workflow_id, key, pos, until)
    poll = 0.005
    with ctx.recorder.watching_event(ctx, workflow_id, key):  # wakes ctx.wakeup
        while True:
            value_json = waiter.event(workflow_id, key)
            if value_json is not None:
                return True, serialization.loads(value_json)
            if now_ms() >= give_up:
                return False, None
            ctx.wait(give_up, poll, None, durable)
            poll = min(poll * 2, waiter.poll_interval)


async def _wait_event_durably_async(
    ctx: WorkflowContext, pos: int, workflow_id: str, key: str, until: int | None
) -> tuple[bool, Any]:
    waiter, recorder = ctx.recorder.waiter, ctx.recorder
    durable, give_up = _event_wait(workflow_id, key, pos, until)
    poll = 0.005
    with recorder.watching_event(ctx, workflow_id, key):  # wakes ctx.wakeup
        while True:
            value_json = await recorder.in_io(lambda: waiter.event(workflow_id, key))
            if value_json is not None:
                return True, serialization.loads(value_json)
            if now_ms() >= give_up:
                return False, None
            await ctx.wait_async(give_up, poll, None, durable)
            poll = min(poll * 2, waiter.poll_interval)


def get_event(
    waiter: Waiter | None, workflow_id: str, key: str, timeout: float | None = 60.0
) -> Any:
    """The event's value, or None after ``timeout`` seconds.

    Inside a workflow the value read is recorded, so replay sees the same value (and
    ``waiter`` is the workflow's own), and the wait is durable: it may suspend, and a
    finite timeout keeps its deadline across a resume. Outside, ``waiter`` is the app's.
    """
    ctx = maybe_current()
    if ctx is None:
        if waiter is None:
            raise ConfigurationError("the app is not launched: call app.launch() first")
        return wait_event(waiter, workflow_id, key, timeout)[1]
    sync_only(ctx, "get_event")
    k = _key(key)
    name = event_name(ctx, workflow_id, k)
    until = _event_deadline(ctx, name, timeout, "get_event()")
    pos = ctx.reserve()
    rec = ctx.replay_or_none(pos, GET_EVENT, name)
    if rec is not None:
        return serialization.loads(rec.output)
    started = now_ms()
    found, value = _wait_event_durably(ctx, pos, workflow_id, k, until)
    output = serialization.dumps(value, "event") if found else None
    ctx.record(OperationRecord(pos, GET_EVENT, name, output=output, started_at=started))
    return value


def get_event_async(
    waiter: Waiter | None, workflow_id: str, key: str, timeout: float | None = 60.0
) -> Coroutine[Any, Any, Any]:
    """``get_event`` for async code: in an async workflow, recorded and durable like
    ``get_event`` (its positions reserved at the call); outside, a wait in a thread."""
    ctx = maybe_current()
    if ctx is None:
        if waiter is None:
            raise ConfigurationError("the app is not launched: call app.launch() first")
        return _value(asyncio.to_thread(wait_event, waiter, workflow_id, key, timeout))
    k = _key(key)
    name = event_name(ctx, workflow_id, k)
    until = _event_deadline(ctx, name, timeout, "get_event_async()")
    pos = ctx.reserve()
    rec = ctx.replay_or_none(pos, GET_EVENT, name)

    async def run() -> Any:
        if rec is not None:
            return serialization.loads(rec.output)
        started = now_ms()
        found, value = await _wait_event_durably_async(ctx, pos, workflow_id, k, until)
        output = serialization.dumps(value, "event") if found else None
        op = OperationRecord(pos, GET_EVENT, name, output=output, started_at=started)
        await ctx.arecord(op)
        return value

    return ctx.track(pos, run())  # type: ignore[return-value]


async def _value(found: Awaitable[tuple[bool, Any]]) -> Any:
    return (await found)[1]
