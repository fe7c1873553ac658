"""``tether.Client``: enqueue and observe workflows from outside a running app.

A web handler, a cron job or another service enqueues by workflow *name*, with no executor
and none of the workflow code; the app's executors run the work. The client only reads and
writes rows, so it never registers an executor or runs a workflow.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from . import forks
from .errors import ConfigurationError, WorkflowNotFoundError
from .handles import WorkflowHandle
from .queues import Enqueuer, OnDuplicate, Queue, QueueSpec
from .records import WorkflowRecord
from .routing import Routing
from .store import Store
from .streams import StreamReader
from .waiting import StoreWaiter


def workflow_name(workflow: Any) -> str:
    """The registered name of a workflow function, or the name itself."""
    if isinstance(workflow, str):
        if not workflow:
            raise ConfigurationError("the workflow name is empty")
        return workflow
    name = getattr(workflow, "__tether_workflow__", None)
    if name is None:
        raise ConfigurationError(
            f"{workflow!r} is not a registered workflow: pass its name (a string) or a "
            "function decorated with @app.workflow()"
        )
    return str(name)


class Client:
    """Enqueue into an app's queues and watch the results, from any process.

    >>> client = tether.Client("postgresql://...", "refunds")
    >>> h = client.enqueue("agents", "refund", "o-1", partition_key="customer-42")
    >>> h.result(timeout=60)
    """

    def __init__(self, database_url: str, app_name: str, *, poll_interval: float = 0.1) -> None:
        self.app_name = app_name
        self.store = Store(database_url, app_name)
        # No engine runs here: handles poll the store, backing off to ``poll_interval``.
        self._waiter = StoreWaiter(self.store, poll_interval)
        self._checked = False
        self._enqueuer = Enqueuer(self.store, resolve=workflow_name, handle=self._handle)
        self._streams = StreamReader(self.store, self._waiter)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    def _handle(self, workflow_id: str) -> WorkflowHandle:
        return WorkflowHandle(self._waiter, workflow_id)

    def _ready(self) -> Enqueuer:
        if not self._checked:
            self.store.check_schema()
            self._checked = True
        return self._enqueuer

    def queue(self, name: str, *, on_duplicate: OnDuplicate = "reject") -> Queue:
        """A handle on a queue by name (its limits are the executors' business)."""
        return Queue(QueueSpec(name, on_duplicate=on_duplicate), self._ready)

    def enqueue(
        self, queue: str, workflow: Callable[..., Any] | str, *args: Any, **options: Any
    ) -> WorkflowHandle:
        """``client.queue(queue).enqueue(workflow, *args, **options)``; see ``Queue.enqueue``."""
        return self.queue(queue).enqueue(workflow, *args, **options)

    async def enqueue_async(
        self, queue: str, workflow: Callable[..., Any] | str, *args: Any, **options: Any
    ) -> WorkflowHandle:
        return await self.queue(queue).enqueue_async(workflow, *args, **options)

    def retrieve_workflow(self, workflow_id: str) -> WorkflowHandle:
        self.get_workflow(workflow_id)
        return self._handle(workflow_id)

    def get_workflow(self, workflow_id: str) -> WorkflowRecord:
        self._ready()
        rec = self.store.workflows.get(workflow_id)
        if rec is None:
            raise WorkflowNotFoundError(f"no workflow {workflow_id!r} in app {self.app_name!r}")
        return rec

    def read_stream(
        self, workflow_id: str, key: str, offset: int = 0, timeout: float | None = 60.0
    ) -> Iterator[Any]:
        """A workflow's stream ``key`` from ``offset``, live until it ends (see
        ``Tether.read_stream``)."""
        self._ready()
        return self._streams.read(workflow_id, key, offset, timeout)

    def read_stream_async(
        self, workflow_id: str, key: str, offset: int = 0, timeout: float | None = 60.0
    ) -> AsyncIterator[Any]:
        self._ready()
        return self._streams.read_async(workflow_id, key, offset, timeout)

    def fork(
        self, workflow_id: str, from_position: int, *, new_workflow_id: str | None = None
    ) -> WorkflowHandle:
        """A new workflow with ``workflow_id``'s inputs and its history, events and stream
        entries before ``from_position``, on the same version; an executor of that version
        runs it on from there. (A fork onto another version needs that version's code to
        check the history replays: ``app.versions.fork``.)"""
        self._ready()
        rec = forks.fork_same_version(self.store, workflow_id, from_position, new_workflow_id)
        return self._handle(rec.workflow_id)

    def delete_workflow(self, workflow_id: str, *, children: bool = True) -> list[str]:
        """Delete a finished workflow (and its descendants) with its history, messages,
        events and streams; the ids deleted. An open one is refused: cancel it first."""
        self._ready()
        return self.store.deletion.delete(workflow_id, children=children)

    def routing(self) -> Routing:
        self._ready()
        return self.store.versions.routing()
