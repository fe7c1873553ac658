"""Every operation the ``tether`` command runs, as plain functions returning typed records.

The CLI is a thin shell over these, and an HTTP admin API or a dashboard calls the same
functions: open the app once (``open_app``, which checks the schema; ``load_app`` when the
operation runs workflow code), call a function, serialize its result with ``to_json`` or
``jsonable``. Errors are ``TetherError`` subclasses whose message says what to do.
"""

from __future__ import annotations

from tether.runtime.records import ExecutorRecord, OperationRecord, WorkflowRecord
from tether.versioning.migration import MigrationReport
from tether.versioning.patch_report import PatchReport
from tether.versioning.registry import VersionInfo
from tether.versioning.replay import ReplayResult

from ..queues import QueueLimits, QueueStats
from ..retention import RetentionReport
from .demo import demo_report, run_demo
from .queues import (
    RoutingState,
    queue_limits,
    queue_stats,
    set_queue_limits,
    set_routing,
    show_routing,
)
from .records import Record, jsonable, to_json
from .replay import ReplayRun, load_histories, patch_report, replay
from .retention import collect_garbage
from .schedules import (
    ScheduleBackfill,
    ScheduleDeleted,
    ScheduleInfo,
    ScheduleTriggered,
    backfill_schedule,
    delete_schedule,
    list_schedules,
    pause_schedule,
    resume_schedule,
    trigger_schedule,
)
from .series import QueueSeries, queue_series
from .session import first_line, load_app, open_app
from .system import Info, MigrateResult, info, list_executors, migrate
from .timeline import TimelineStep, WorkflowTimeline, workflow_timeline
from .versions import (
    CurrentVersion,
    TagResult,
    current_version,
    list_versions,
    retire_version,
    tag_version,
    unretire_version,
)
from .workflows import (
    CancelResult,
    DeleteResult,
    ExportResult,
    ResumeResult,
    SentMessage,
    StreamEntry,
    WorkflowDetail,
    WorkflowSteps,
    cancel_workflow,
    delete_workflow,
    export_workflows,
    fork_workflow,
    get_workflow,
    list_steps,
    list_workflows,
    migrate_workflows,
    read_stream,
    resume_workflow,
    send_message,
)

__all__ = [
    "CancelResult",
    "CurrentVersion",
    "DeleteResult",
    "ExecutorRecord",
    "ExportResult",
    "Info",
    "MigrateResult",
    "MigrationReport",
    "OperationRecord",
    "PatchReport",
    "QueueLimits",
    "QueueSeries",
    "QueueStats",
    "Record",
    "ReplayResult",
    "RetentionReport",
    "ReplayRun",
    "ResumeResult",
    "RoutingState",
    "ScheduleBackfill",
    "SentMessage",
    "ScheduleDeleted",
    "ScheduleInfo",
    "ScheduleTriggered",
    "StreamEntry",
    "TagResult",
    "TimelineStep",
    "VersionInfo",
    "WorkflowDetail",
    "WorkflowRecord",
    "WorkflowSteps",
    "WorkflowTimeline",
    "backfill_schedule",
    "cancel_workflow",
    "collect_garbage",
    "current_version",
    "delete_schedule",
    "delete_workflow",
    "demo_report",
    "export_workflows",
    "first_line",
    "fork_workflow",
    "get_workflow",
    "info",
    "jsonable",
    "list_executors",
    "list_schedules",
    "list_steps",
    "list_versions",
    "list_workflows",
    "load_app",
    "load_histories",
    "migrate",
    "migrate_workflows",
    "open_app",
    "patch_report",
    "pause_schedule",
    "queue_limits",
    "queue_series",
    "queue_stats",
    "read_stream",
    "replay",
    "resume_schedule",
    "resume_workflow",
    "retire_version",
    "run_demo",
    "set_queue_limits",
    "set_routing",
    "send_message",
    "show_routing",
    "tag_version",
    "to_json",
    "trigger_schedule",
    "unretire_version",
    "workflow_timeline",
]
