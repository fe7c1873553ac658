"""Queue limits changed at run time: stored overrides on top of the limits code declares.

A queue's declared limits (``app.queue(...)``) are defaults. An operator changes them
without a redeploy (``app.queues.set_limits``, ``tether queue-limits set``): the change is
stored, logged, and every executor picks it up within ``REFRESH`` seconds. An override may
set a limit, or remove it (None); resetting a field returns it to the declared value.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ConfigurationError
from .queues import QueueSpec

FIELDS = ("concurrency", "worker_concurrency", "rate_limit", "partition_concurrency")
REFRESH = 1.0  # seconds an executor keeps the stored overrides before reading them again


def check_overrides(queue: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Overrides in stored form (rate limits as ``[n, seconds]``), or a clear error."""
    unknown = sorted(set(overrides) - set(FIELDS))
    if unknown:
        raise ConfigurationError(
            f"queue {queue!r}: unknown limit {unknown}; the limits are {', '.join(FIELDS)}"
        )
    out = dict(overrides)
    if out.get("rate_limit") is not None:
        out["rate_limit"] = list(out["rate_limit"])
    # QueueSpec validates every value the way a declaration would.
    apply(QueueSpec(queue), out)
    return out


def apply(spec: QueueSpec, overrides: Mapping[str, Any]) -> QueueSpec:
    """``spec`` with ``overrides`` in place of its declared limits (pure)."""
    if not overrides:
        return spec
    changes = {k: v for k, v in overrides.items() if k in FIELDS}
    if changes.get("rate_limit") is not None:
        n, period = changes["rate_limit"]
        changes["rate_limit"] = (n, period)
    try:
        return dataclasses.replace(spec, **changes)
    except TypeError as exc:
        raise ConfigurationError(f"queue {spec.name!r}: bad limit override: {exc}") from None


def declared(spec: QueueSpec) -> dict[str, Any]:
    """The limits a declaration sets, in stored form."""
    return {
        "concurrency": spec.concurrency,
        "worker_concurrency": spec.worker_concurrency,
        "rate_limit": list(spec.rate_limit) if spec.rate_limit else None,
        "partition_concurrency": spec.partition_concurrency,
    }


class LimitCache:
    """The stored overrides of every queue, read at most every ``REFRESH`` seconds."""

    def __init__(self, load: Callable[[], dict[str, dict[str, Any]]]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._overrides: dict[str, dict[str, Any]] = {}

    def effective(self, spec: QueueSpec) -> QueueSpec:
        with self._lock:
            if time.monotonic() - self._at >= REFRESH:
                self._overrides = self._load()
                self._at = time.monotonic()
            overrides = self._overrides.get(spec.name)
        return apply(spec, overrides) if overrides else spec

    def invalidate(self) -> None:
        with self._lock:
            self._at = float("-inf")
