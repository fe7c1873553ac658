"""The public API is ``tether.__all__``: changing it is a deliberate act, so it is frozen here."""

from __future__ import annotations

import tether

PUBLIC = [
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
