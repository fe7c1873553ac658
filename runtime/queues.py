"""Durable queues: their limits, and enqueueing (from an app, a Client, the caller's
transaction, or workflow code, where the enqueue is recorded). Dequeueing: ``dequeue``.

``QueueSpec`` is what an executor enforces when it dequeues: global concurrency (PENDING
workflows of the queue across all executors), per-executor concurrency, a rate limit (n
starts per period), and a per-partition concurrency. Limits live in code, like the
workflows: during a rollout each executor enforces the limits its own version declares.

Who holds a slot: a PENDING workflow of the queue holds one while *some live executor can
run its version* — its holder, or a peer that takes it over once the holder's lease has
expired (the slot follows the workflow to the peer). A PENDING workflow that no live
executor can run (its holder is dead, its version orphaned) holds no slot, so a dead or
orphaned holder never blocks a queue; when an executor of its version comes back and
recovers it, it counts again (the queue may then briefly run over its limit).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from . import observe, serialization
from .clock import now_ms
from .engine import encode_inputs
from .errors import ConfigurationError, DeduplicatedError, WorkflowConflictError
from .handles import WorkflowHandle
from .ids import check_workflow_id
from .records import OperationRecord
from .registry import _check_name
from .routing import route
from .routing_store import current_routing
from .store import Store
from .store.queues import Enqueue, caller_runner, sqlalchemy_runner
from .timeouts import timeout_ms

OnDuplicate = Literal["reject", "return_existing"]
ENQUEUE = "enqueue"  # the operation kind recorded when a workflow enqueues another
# The position an async workflow's enqueue_async reserved at its call (see there).
_RESERVED: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "tether_enqueue_position", default=None
)


@dataclass(frozen=True)
class QueueSpec:
    name: str
    concurrency: int | None = None
    worker_concurrency: int | None = None
    rate_limit: tuple[int, float] | None = None
    partition_concurrency: int | None = None
    on_duplicate: OnDuplicate = "reject"

    def __post_init__(self) -> None:
        _check_name(self.name, "queue")
        for field in ("concurrency", "worker_concurrency", "partition_concurrency"):
            value = getattr(self, field)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigurationError(
                    f"queue {self.name!r}: {field} must be a positive integer or None, "
                    f"got {value!r}"
                )
        if self.rate_limit is not None:
            n, period = self.rate_limit
            if not isinstance(n, int) or n < 1 or not period > 0:
                raise ConfigurationError(
                    f"queue {self.name!r}: rate_limit must be (n >= 1 starts, period > 0 "
                    f"seconds), got {self.rate_limit!r}"
                )
        _check_policy(self.on_duplicate)

    @property
    def needs_live_versions(self) -> bool:
        return bool(self.concurrency or self.partition_concurrency)


def _check_policy(policy: str) -> None:
    if policy not in ("reject", "return_existing"):
        raise ConfigurationError(
            f"on_duplicate must be 'reject' or 'return_existing', got {policy!r}"
        )


class Enqueuer:
    """Enqueues into one app's queues, from a launched app, an idle one, or a Client.

    ``resolve`` turns a workflow function or name into its registered name; ``handle``
    builds the handle returned; ``wake`` (optional) tells a local dequeuer about new work;
    ``observer`` (optional) returns who to tell of each enqueue (see runtime.observe).
    """

    def __init__(
        self,
        store: Store,
        *,
        resolve: Callable[[Any], str],
        handle: Callable[[str], WorkflowHandle],
        wake: Callable[[str], None] | None = None,
        timeout_of: Callable[[str], int | None] | None = None,
        observer: Callable[[], observe.Observer | None] | None = None,
    ) -> None:
        self.store = store
        self.observer = observer
        self.timeout_of = timeout_of  # a workflow's declared timeout (ms), by name
        self.queues = store.queues
        self.resolve = resolve
        self.handle = handle
        self.wake = wake
        self._schema_checked = False

    def enqueue(
        self,
        spec: QueueSpec,
        workflow: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        workflow_id: str | None = None,
        priority: int = 0,
        dedup_id: str | None = None,
        delay: float | None = None,
        partition_key: str | None = None,
        version: str | None = None,
        on_duplicate: OnDuplicate | None = None,
        connection: Any = None,
        workflow_timeout: float | None = None,
    ) -> WorkflowHandle:
        from .context import maybe_current

        if not self._schema_checked:  # a clear "run tether migrate" beats a missing table
            self.store.check_schema()
            self._schema_checked = True
        name = self.resolve(workflow)
        timeout = timeout_ms(workflow_timeout)
        if timeout is None and self.timeout_of is not None:
            timeout = self.timeout_of(name)
        policy = on_duplicate or spec.on_duplicate
        _check_policy(policy)
        if not isinstance(priority, int):
            raise ConfigurationError(f"priority must be an integer, got {priority!r}")
        if delay is not None and delay < 0:
            raise ConfigurationError(f"delay must be >= 0 seconds, got {delay!r}")
        if workflow_id is not None:
            check_workflow_id(workflow_id)
        ctx = maybe_current() if connection is None else None
        if ctx is not None:
            return self._enqueue_durably(
                ctx,
                spec,
                name,
                args,
                kwargs,
                workflow_id,
                priority,
                dedup_id,
                delay,
                partition_key,
                version,
                policy,
                timeout,
            )
        wid = str(uuid.uuid4()) if workflow_id is None else workflow_id
        e = self._spec(
            spec, name, wid, args, kwargs, priority, dedup_id, delay, partition_key, version
        )
        e = dataclasses.replace(e, timeout_ms=timeout)
        if connection is not None:
            run = caller_runner(connection, self.store.db.dialect)
            dialect = self.store.db.dialect
            outcome = self.queues.enqueue(run, e, dialect=dialect)
        else:
            outcome = self.store.db.run_write(
                lambda conn: self.queues.enqueue(sqlalchemy_runner(conn), e),
                single_statement=dedup_id is None,  # the insert (and its NOTIFY) alone
            )
        if outcome.existing_name is not None and outcome.existing_name != name:
            raise WorkflowConflictError(
                f"workflow id {wid!r} already belongs to workflow {outcome.existing_name!r}, "
                f"not {name!r}: choose another id"
            )
        if outcome.duplicate_of is not None and policy == "reject":
            raise DeduplicatedError(spec.name, dedup_id or "", outcome.duplicate_of)
        if outcome.created:
            self._enqueued(e)
            if self.wake is not None:
                self.wake(spec.name)
        return self.handle(outcome.workflow_id)

    def _enqueued(self, e: Enqueue) -> None:
        observer = None if self.observer is None else self.observer()
        if observer is not None:
            observer.enqueued(e.queue, e.name, e.version)

    def _spec(
        self,
        spec: QueueSpec,
        name: str,
        wid: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        priority: int,
        dedup_id: str | None,
        delay: float | None,
        partition_key: str | None,
        version: str | None,
    ) -> Enqueue:
        if version is None:
            version = route(wid, current_routing(self.store))
            if version is None:
                raise ConfigurationError(
                    f"app {self.store.app_name!r} has no current version yet: launch an "
                    "executor once (it becomes current), set one with `tether routing set "
                    "--current VERSION`, or enqueue with version=..."
                )
        return Enqueue(
            workflow_id=wid,
            name=name,
            inputs_json=encode_inputs(wid, name, args, kwargs),
            version=version,
            queue=spec.name,
            priority=priority,
            dedup_id=dedup_id,
            partition_key=partition_key,
            delay_ms=int(delay * 1000) if delay else 0,
            trace_context=observe.capture(),
        )

    def _enqueue_durably(
        self,
        ctx: Any,
        spec: QueueSpec,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        workflow_id: str | None,
        priority: int,
        dedup_id: str | None,
        delay: float | None,
        partition_key: str | None,
        version: str | None,
        policy: str,
        timeout: int | None = None,
    ) -> WorkflowHandle:
        """From workflow code: recorded at a position, so a replay never enqueues twice."""
        pos = _RESERVED.get()
        if pos is None:
            pos = ctx.reserve()
        recorded = ctx.replay_or_none(pos, ENQUEUE, name)
        if recorded is not None:
            if recorded.error is not None:  # refused then: refused again, same path
                raise serialization.error_from_json(json.loads(recorded.error))
            return self.handle(recorded.child_id)
        ctx.check_interrupt()
        wid = f"{ctx.workflow_id}-{pos}" if workflow_id is None else workflow_id
        if dedup_id is not None and policy == "return_existing":
            holder = self.queues.open_holder(spec.name, dedup_id)
            if holder is not None:
                wid = holder
        e = self._spec(
            spec, name, wid, args, kwargs, priority, dedup_id, delay, partition_key, version
        )
        e = dataclasses.replace(e, timeout_ms=timeout)

        refused: list[DeduplicatedError] = []

        def then(conn: Any, store: Store) -> None:
            outcome = self.queues.enqueue(sqlalchemy_runner(conn), e)
            if outcome.duplicate_of is not None and outcome.duplicate_of != wid:
                # The refusal is this operation's recorded outcome: a replay raises it
                # again rather than enqueue anew (the holder may have finished by then).
                err = DeduplicatedError(spec.name, dedup_id or "", outcome.duplicate_of)
                error_json = json.dumps(serialization.error_to_json(err))
                store.operations.set_error(conn, ctx.workflow_id, pos, error_json)
                refused.append(err)

        started = now_ms()
        ctx.record(OperationRecord(pos, ENQUEUE, name, child_id=wid, started_at=started), then)
        if refused:
            raise refused[0]
        self._enqueued(e)
        if self.wake is not None:
            self.wake(spec.name)
        return self.handle(wid)


class Queue:
    """A named queue of one app: ``q.enqueue(workflow, *args, **options)`` returns a handle."""

    def __init__(self, spec: QueueSpec, enqueuer: Callable[[], Enqueuer]) -> None:
        self.spec = spec
        self._enqueuer = enqueuer

    @property
    def name(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        return f"Queue({self.spec!r})"

    def enqueue(
        self,
        workflow: Callable[..., Any] | str,
        *args: Any,
        workflow_id: str | None = None,
        priority: int = 0,
        dedup_id: str | None = None,
        delay: float | None = None,
        partition_key: str | None = None,
        version: str | None = None,
        on_duplicate: OnDuplicate | None = None,
        connection: Any = None,
        workflow_timeout: float | None = None,
        **kwargs: Any,
    ) -> WorkflowHandle:
        """Durably enqueue a workflow run; an executor of its version starts it.

        ``priority``: lower starts first, FIFO within a priority. ``dedup_id``: at most one
        open workflow per id in this queue (``on_duplicate`` says whether a second enqueue
        raises DeduplicatedError or returns the open one's handle). ``delay``: seconds before
        it may start. ``partition_key``: the partition whose concurrency it counts against.
        ``version``: where it runs (default: the app's routing, see ``set_routing``).
        ``connection``: a SQLAlchemy Connection/Session or psycopg connection whose
        transaction the enqueue joins (it exists only if that transaction commits).
        ``workflow_timeout``: seconds from its dequeue until it is cancelled with its
        children (default: the workflow's declared ``timeout``).
        """
        return self._enqueuer().enqueue(
            self.spec,
            workflow,
            args,
            kwargs,
            workflow_id=workflow_id,
            priority=priority,
            dedup_id=dedup_id,
            delay=delay,
            partition_key=partition_key,
            version=version,
            on_duplicate=on_duplicate,
            connection=connection,
            workflow_timeout=workflow_timeout,
        )

    def enqueue_async(
        self, workflow: Callable[..., Any] | str, *args: Any, **options: Any
    ) -> Awaitable[WorkflowHandle]:
        """``await q.enqueue_async(...)``: ``enqueue`` for async code (off the event loop).

        In an async workflow the position is taken at the call, like every operation's,
        so ``asyncio.gather`` of enqueues and steps replays deterministically.
        """
        from .context import maybe_current

        ctx = maybe_current()
        if ctx is None or options.get("connection") is not None:
            return asyncio.to_thread(self.enqueue, workflow, *args, **options)
        pos = ctx.reserve()

        def run() -> WorkflowHandle:
            token = _RESERVED.set(pos)
            try:
                return _in_context(ctx, lambda: self.enqueue(workflow, *args, **options))
            finally:
                _RESERVED.reset(token)

        return ctx.track(pos, ctx.recorder.in_io(run))


def _in_context(ctx: Any, fn: Callable[[], WorkflowHandle]) -> WorkflowHandle:
    from .context import _CURRENT

    token = _CURRENT.set(ctx)
    try:
        return fn()
    finally:
        _CURRENT.reset(token)
