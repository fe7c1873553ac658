"""Small helpers shared by the integration tests: wait on a condition with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from tether import Tether

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def ops(app: Tether, workflow_id: str) -> list[tuple[int, str, str]]:
    """(position, kind, name) of every recorded operation."""
    return [(op.position, op.kind, op.name) for op in app.list_steps(workflow_id)]


def idle(app: Tether) -> Any:
    """True once no workflow runs on this app's engine (its threads have finished)."""
    return wait_until(lambda: not app.engine.running_ids(), what="the engine to go idle")
