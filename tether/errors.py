"""tether's errors, importable as ``from tether.errors import WorkflowNotFoundError`` (and
from ``tether`` itself). Every one derives from ``TetherError`` and its message says what was
wrong and how to fix it; the hierarchy is described in ``tether.runtime.errors``."""

from __future__ import annotations

from tether.runtime.errors import (
    ConfigurationError,
    DeduplicatedError,
    NondeterminismError,
    NotInWorkflowError,
    ResultTimeoutError,
    SchemaError,
    SerializationError,
    StoredError,
    TetherError,
    WorkflowCancelledError,
    WorkflowConflictError,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowParkedError,
)

__all__ = [
    "ConfigurationError",
    "DeduplicatedError",
    "NondeterminismError",
    "NotInWorkflowError",
    "ResultTimeoutError",
    "SchemaError",
    "SerializationError",
    "StoredError",
    "TetherError",
    "WorkflowCancelledError",
    "WorkflowConflictError",
    "WorkflowFailedError",
    "WorkflowNotFoundError",
    "WorkflowParkedError",
]
