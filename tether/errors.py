"""tether's errors, importable as ``from tether.errors import WorkflowNotFoundError`` (and
from ``tether`` itself). Every one derives from ``TetherError`` and its message says what was
wrong and how to fix it; the hierarchy is described in ``tether.runtime.errors``. The
interrupts (``WorkflowInterrupt`` and its kinds) are here too: they end a workflow's run on
purpose, and code that catches ``BaseException`` must let them through."""

from __future__ import annotations

from tether.runtime.errors import (
    CancelledInterrupt,
    ConfigurationError,
    DatabaseUnavailableError,
    DeduplicatedError,
    DrainingInterrupt,
    LeaseLostInterrupt,
    NondeterminismError,
    NotInWorkflowError,
    ResultTimeoutError,
    SchemaError,
    SerializationError,
    StepTimeoutError,
    StoredError,
    StoreUnavailableInterrupt,
    SuspendedInterrupt,
    TetherError,
    WorkflowCancelledError,
    WorkflowConflictError,
    WorkflowFailedError,
    WorkflowInterrupt,
    WorkflowNotFoundError,
    WorkflowParkedError,
    WorkflowTimeoutError,
)

__all__ = [
    "CancelledInterrupt",
    "ConfigurationError",
    "DatabaseUnavailableError",
    "DeduplicatedError",
    "DrainingInterrupt",
    "LeaseLostInterrupt",
    "NondeterminismError",
    "NotInWorkflowError",
    "ResultTimeoutError",
    "SchemaError",
    "SerializationError",
    "StepTimeoutError",
    "StoreUnavailableInterrupt",
    "StoredError",
    "SuspendedInterrupt",
    "TetherError",
    "WorkflowCancelledError",
    "WorkflowConflictError",
    "WorkflowFailedError",
    "WorkflowInterrupt",
    "WorkflowNotFoundError",
    "WorkflowParkedError",
    "WorkflowTimeoutError",
]
