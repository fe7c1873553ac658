"""Durable execution: workflows, steps, checkpoints, executors and leases, the store."""

from __future__ import annotations

from . import errors
from .engine import Engine, EngineSettings
from .handles import WorkflowHandle
from .records import ExecutorRecord, OperationRecord, Status, WorkflowRecord
from .registry import Registry
from .routing import Routing

__all__ = [
    "Engine",
    "EngineSettings",
    "ExecutorRecord",
    "OperationRecord",
    "Registry",
    "Routing",
    "Status",
    "WorkflowHandle",
    "WorkflowRecord",
    "errors",
]
