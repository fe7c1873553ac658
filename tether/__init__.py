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

from tether.runtime import errors
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

from .app import Tether
from .queues import QueueStats

__version__ = "0.1.0"


def workflow_id() -> str:
    """The id of the workflow this code runs in."""
    return _current("tether.workflow_id()").workflow_id


__all__ = [
    "Client",
    "ExecutorRecord",
    "MigrationReport",
    "OperationRecord",
    "PatchReport",
    "Queue",
    "QueueStats",
    "ReplayResult",
    "Routing",
    "ScheduleRecord",
    "Status",
    "Tether",
    "VersionInfo",
    "WorkflowHandle",
    "WorkflowRecord",
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
