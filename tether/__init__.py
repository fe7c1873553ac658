"""tether: durable, versioned AI agents on serverless platforms.

from tether import Tether
import tether

app = Tether(app_name="refunds", database_url="sqlite:///tether.db")

@app.step(retries=3)
def charge(order_id: str) -> dict: ...

@app.workflow()
def refund(order_id: str) -> str:
    charge(order_id)
    tether.sleep(5)
    ...

app.launch()
"""

from __future__ import annotations

from tether.runtime.client import Client
from tether.runtime.context import current as _current
from tether.runtime.handles import WorkflowHandle
from tether.runtime.primitives import (
    recv,
    recv_async,
    send,
    set_event,
    sleep,
    sleep_async,
)
from tether.runtime.queues import Queue
from tether.runtime.records import ExecutorRecord, OperationRecord, Status, WorkflowRecord
from tether.runtime.routing import Routing
from tether.runtime.store.schedules import ScheduleRecord
from tether.runtime.streams import close_stream, write_stream, write_stream_async
from tether.versioning.migration import MigrationReport
from tether.versioning.patch_report import PatchReport
from tether.versioning.patches import deprecate_patch, patch
from tether.versioning.registry import VersionInfo
from tether.versioning.replay import ReplayResult

from . import errors
from .app import Tether
from .errors import (
    ConfigurationError,
    DatabaseUnavailableError,
    DeduplicatedError,
    NondeterminismError,
    NotInWorkflowError,
    ResultTimeoutError,
    SchemaError,
    SerializationError,
    StepTimeoutError,
    StoredError,
    TetherError,
    WorkflowCancelledError,
    WorkflowConflictError,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowParkedError,
    WorkflowTimeoutError,
)
from .queues import QueueStats

__version__ = "0.1.0"


def workflow_id() -> str:
    """The id of the workflow this code runs in."""
    return _current("tether.workflow_id()").workflow_id


__all__ = [
    "Client",
    "ConfigurationError",
    "DatabaseUnavailableError",
    "DeduplicatedError",
    "ExecutorRecord",
    "MigrationReport",
    "NondeterminismError",
    "NotInWorkflowError",
    "OperationRecord",
    "PatchReport",
    "Queue",
    "QueueStats",
    "ReplayResult",
    "ResultTimeoutError",
    "Routing",
    "ScheduleRecord",
    "SchemaError",
    "SerializationError",
    "Status",
    "StepTimeoutError",
    "StoredError",
    "Tether",
    "TetherError",
    "VersionInfo",
    "WorkflowCancelledError",
    "WorkflowConflictError",
    "WorkflowFailedError",
    "WorkflowHandle",
    "WorkflowNotFoundError",
    "WorkflowParkedError",
    "WorkflowRecord",
    "WorkflowTimeoutError",
    "close_stream",
    "deprecate_patch",
    "errors",
    "patch",
    "recv",
    "recv_async",
    "send",
    "set_event",
    "sleep",
    "sleep_async",
    "workflow_id",
    "write_stream",
    "write_stream_async",
]

for _name in (
    "Tether",
    "WorkflowHandle",
    "Status",
    "WorkflowRecord",
    "OperationRecord",
    "ExecutorRecord",
    "Client",
    "Queue",
):
    globals()[_name].__module__ = "tether"
