"""The public API is ``tether.__all__``: changing it is a deliberate act, so it is frozen here."""

from __future__ import annotations

import tether

PUBLIC = [
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


def test_all_is_frozen() -> None:
    assert sorted(tether.__all__) == PUBLIC
    assert len(set(tether.__all__)) == len(tether.__all__), "duplicate names in __all__"


def test_every_public_name_resolves() -> None:
    missing = [name for name in tether.__all__ if getattr(tether, name, None) is None]
    assert not missing, f"tether.__all__ names that do not resolve: {missing}"


def test_star_import_gives_exactly_the_public_names() -> None:
    namespace: dict[str, object] = {}
    exec("from tether import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == PUBLIC


def test_errors_import_from_tether_and_tether_errors() -> None:
    from tether.runtime import errors as runtime_errors

    from tether.errors import TetherError, WorkflowNotFoundError

    assert WorkflowNotFoundError is runtime_errors.WorkflowNotFoundError
    assert tether.WorkflowNotFoundError is WorkflowNotFoundError
    assert tether.errors.TetherError is TetherError
    classes = {
        name: value
        for name, value in vars(runtime_errors).items()
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    # Every error and interrupt, as `tether.errors` was the runtime's module before.
    assert set(classes) == set(tether.errors.__all__)
    errors = {n for n, c in classes.items() if issubclass(c, runtime_errors.TetherError)}
    assert errors <= set(tether.__all__)
