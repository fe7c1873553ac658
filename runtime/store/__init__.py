"""The durable store: one module per concern, composed by :class:`Store`.

One convention for passing a connection:

* A store method that is a *part* of a larger transaction (a fenced effect, a claim, the
  statements a checkpoint runs) takes ``conn: Connection`` as its first positional
  argument and never opens a transaction of its own.
* Every other method takes an optional keyword ``conn: Connection | None = None``: given,
  it runs on the caller's transaction; None, it opens its own through
  ``Database.reading`` / ``Database.writing``, which repeat the work on a fresh connection
  when the connection breaks (failover, idle reaping; see ``retry``) and raise
  ``DatabaseUnavailableError`` after the retry deadline. Such a method must therefore be
  safe to repeat: a read, an insert-if-absent, a fenced or compare-and-set update. A write
  whose commit may have happened unheard (the connection broke after ``COMMIT``) must also
  *report* what it did when repeated: it recognises its own earlier work (a completion time
  or log row it stamped, the rows an earlier attempt chose) instead of saying "nothing to do".
* Writes of a running workflow go through the commit lanes (``Database.run_write``), which
  apply the same retry policy per item.

Not repeated, each for its reason (tests/unit/test_store_connections.py lists them): the
executor heartbeat (its loop is the retry and must see each failure to judge its own
lease), queue claims (a repeat would claim a second batch; the dequeue loop is the retry),
``migrate`` (its caller must hear that it failed), and a send without an idempotency key
(a repeat would deliver the message twice).
"""

from __future__ import annotations

from . import migrate as migrations
from .database import Database, normalize_url, redact
from .deletion import DeletionStore
from .executors import ExecutorStore
from .lineage import LineageStore
from .messages import MessageStore
from .operations import Fence, OperationStore
from .queue_config import QueueConfigStore
from .queues import QueueStore
from .schedules import ScheduleStore
from .streams import StreamStore
from .timeouts import TimeoutStore
from .versions import VersionStore
from .waits import WaitStore
from .workflows import WorkflowStore


class Store:
    """Everything the runtime persists, for one app in one database."""

    def __init__(self, database_url: str, app_name: str, *, pool_size: int = 10) -> None:
        self.db = Database(database_url, pool_size=pool_size, application_name=f"tether:{app_name}")
        self.app_name = app_name
        self.workflows = WorkflowStore(self.db, app_name)
        self.operations = OperationStore(self.db, app_name)
        self.executors = ExecutorStore(self.db, app_name)
        self.messages = MessageStore(self.db, app_name)
        self.versions = VersionStore(self.db, app_name)
        self.lineage = LineageStore(self.db, app_name)
        self.queues = QueueStore(self.db, app_name)
        self.schedules = ScheduleStore(self.db, app_name)
        self.deletion = DeletionStore(self.db, app_name)
        self.streams = StreamStore(self.db, app_name)
        self.timeouts = TimeoutStore(self.db, app_name)
        self.queue_config = QueueConfigStore(self.db, app_name)
        self.waits = WaitStore(self.db, app_name)
        # Whatever path ends a workflow (its run, cancel, timeout, recovery exhausted,
        # deletion), the commit that ends it wakes the workflows suspended on it.
        self.db.on_ended.append(self.waits.wake_waiters_of)

    def migrate(self) -> list[int]:
        return migrations.migrate(self.db)

    def check_schema(self) -> int:
        return migrations.check(self.db)

    def close(self) -> None:
        self.db.close()


__all__ = ["Database", "Fence", "Store", "normalize_url", "redact"]
