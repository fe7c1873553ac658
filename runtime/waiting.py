"""The one wait primitive: block a thread or suspend a coroutine until a signal or a deadline.

Every wait in the runtime (durable sleep, recv, a child's result, a step's retry backoff,
``get_event``) comes here, so a thread and an event loop wait the same way: on a
notification, never by polling a flag. A :class:`Signal` is a generation counter; a waiter
notes the generation, checks its condition, then waits for the generation to move on. An
async waiter costs one future and one timer handle (no task, no polling), and a notify
costs one thread-safe call per event loop, so ten thousand sleeping coroutines cost
nothing until something happens.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Protocol

from .clock import now_ms
from .records import WorkflowRecord

if TYPE_CHECKING:
    from .store import Store


class Signal:
    """A notification that threads and event loops can wait on (see the module doc)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.generation = 0
        self._futures: dict[asyncio.AbstractEventLoop, set[asyncio.Future[None]]] = {}

    def notify(self) -> None:
        with self._cond:
            self.generation += 1
            self._cond.notify_all()
            waiting, self._futures = self._futures, {}
        for loop, futures in waiting.items():
            try:
                loop.call_soon_threadsafe(_resolve_all, futures)
            except RuntimeError:  # the loop is closed: nobody waits there any more
                pass

    def wait(self, generation: int, timeout: float) -> None:
        """Block until the generation moves past ``generation`` or ``timeout`` passes."""
        with self._cond:
            if self.generation == generation and timeout > 0:
                self._cond.wait(timeout)

    async def wait_async(self, generation: int, timeout: float) -> None:
        """``wait`` for a coroutine: suspends it, holding no thread."""
        if timeout <= 0:
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self.generation != generation:
                return
            futures = self._futures.setdefault(loop, set())
            futures.add(fut)
        timer = loop.call_later(timeout, _resolve, fut)  # a future and a timer: no task
        try:
            await fut
        finally:
            timer.cancel()
            with self._cond:
                futures.discard(fut)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _resolve_all(futures: set[asyncio.Future[None]]) -> None:
    for fut in futures:
        _resolve(fut)


class Mailboxes:
    """Per-workflow wake-ups: a message (or an event) wakes only the waiters that want it.

    A waiting ``recv`` registers its run's own signal under its workflow id and topic; a
    send to that id notifies just those signals, so one send costs one wake-up and one
    query, not a wake-up and a query for every waiter in the process. The same structure
    keys event waiters by the workflow that sets the event and the event's key. A send from
    another process reaches it through ``remote_wakes``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, list[tuple[str | None, Signal]]] = {}

    @contextmanager
    def listening(
        self, workflow_id: str, signal: Signal, topic: str | None = None
    ) -> Iterator[None]:
        """While open, ``notify(workflow_id, topic)`` wakes ``signal`` (``topic`` None: any)."""
        entry = (topic, signal)
        with self._lock:
            self._by_id.setdefault(workflow_id, []).append(entry)
        try:
            yield
        finally:
            with self._lock:
                entries = self._by_id.get(workflow_id, [])
                if entry in entries:
                    entries.remove(entry)
                if not entries:
                    self._by_id.pop(workflow_id, None)

    def notify(self, workflow_id: str, topic: str | None = None) -> None:
        """Wake who waits on ``workflow_id`` for ``topic`` (None: whatever they wait for)."""
        with self._lock:
            entries = list(self._by_id.get(workflow_id, ()))
        for wanted, signal in entries:
            if topic is None or wanted is None or wanted == topic:
                signal.notify()

    def waiting(self) -> dict[str, set[str | None]]:
        """A snapshot: each workflow id waited on, with the topics wanted (None: any)."""
        with self._lock:
            return {wid: {t for t, _ in entries} for wid, entries in self._by_id.items()}

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_id)


class Waiter(Protocol):
    """What waiting on other workflows needs: read their state, and a signal that says when
    to look again (an engine notifies it locally; elsewhere only ``poll_interval`` does)."""

    @property
    def signal(self) -> Signal: ...

    @property
    def poll_interval(self) -> float: ...

    def workflow(self, workflow_id: str) -> WorkflowRecord | None: ...

    def event(self, workflow_id: str, key: str) -> str | None: ...

    def watching(self, workflow_id: str, key: str) -> AbstractContextManager[Signal]:
        """While open: the signal to wait on for event ``key`` of ``workflow_id``."""
        ...


class StoreWaiter:
    """The live :class:`Waiter`: reads the store; ``signal`` is notified by a local engine
    (or by nobody, for a process that only enqueues and watches)."""

    def __init__(
        self,
        store: Store,
        poll_interval: float,
        signal: Signal | None = None,
        events: Mailboxes | None = None,
    ) -> None:
        self.store = store
        self.poll_interval = poll_interval
        self.signal = signal if signal is not None else Signal()
        self.events = events  # an engine's: event waiters by the workflow that sets them

    def workflow(self, workflow_id: str) -> WorkflowRecord | None:
        return self.store.workflows.get(workflow_id)

    def event(self, workflow_id: str, key: str) -> str | None:
        return self.store.messages.get_event(workflow_id, key)

    @contextmanager
    def watching(self, workflow_id: str, key: str) -> Iterator[Signal]:
        """A signal of its own that only event ``key`` of ``workflow_id`` wakes (in an
        engine); elsewhere the shared one, which only the poll interval moves on."""
        if self.events is None:
            yield self.signal
            return
        signal = Signal()
        with self.events.listening(workflow_id, signal, key):
            yield signal


def pause(
    signal: Signal, until_ms: int, poll: float, interrupted: Callable[[], bool] = lambda: False
) -> None:
    """The sync wait: until ``signal`` fires, ``until_ms`` (epoch ms) or ``poll`` seconds."""
    generation = signal.generation
    if not interrupted():
        signal.wait(generation, min((until_ms - now_ms()) / 1000, poll))


async def pause_async(
    signal: Signal, until_ms: int, poll: float, interrupted: Callable[[], bool] = lambda: False
) -> None:
    """``pause`` for a coroutine (holds no thread)."""
    generation = signal.generation
    if not interrupted():
        await signal.wait_async(generation, min((until_ms - now_ms()) / 1000, poll))
