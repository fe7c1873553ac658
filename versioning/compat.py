"""Which versions an executor may run: its own plus those declared compatible.

``Tether(compatible_with=["v1"])`` says this code can run v1's workflows (their changes are
patch-gated); ``"*"`` says it can run every version of the app, with each workflow keeping
the version it started on. The wildcard resolves against the version registry, re-read at
most once per ``refresh`` seconds (the heartbeat), so versions launched later join the set.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from tether.runtime.leases import ALL_VERSIONS

log = logging.getLogger("tether.versioning")


class RunnableSet:
    """A callable for the runtime: the versions whose workflows this executor may run.

    With the wildcard, the set also contains ``"*"`` itself, so that the executors table
    shows it and orphan detection counts every version of the app as covered.
    """

    def __init__(
        self,
        own: str,
        compatible_with: Iterable[str],
        *,
        known: Callable[[], Iterable[str]],
        refresh: float,
    ) -> None:
        declared = set(compatible_with)
        self.wildcard = ALL_VERSIONS in declared
        self._static = frozenset({own, *declared})
        self._known = known
        self._refresh = refresh
        self._cached: frozenset[str] = frozenset()
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def __call__(self) -> frozenset[str]:
        if not self.wildcard:
            return self._static
        with self._lock:
            now = time.monotonic()
            if self._loaded_at is None or now - self._loaded_at >= self._refresh:
                try:
                    self._cached = frozenset(self._known())
                    self._loaded_at = now
                except Exception:  # noqa: BLE001 - keep the last known set through blips
                    log.warning("could not read the version registry", exc_info=True)
            return self._static | self._cached
