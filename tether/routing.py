"""``app.routing``: where new queued work goes (the current version and a ramping share).

The one way to read routing: ``app.routing()`` (or ``app.routing.get()``). The decision is
``tether.runtime.routing.route`` (pure); writes validate and go through the runtime.
"""

from __future__ import annotations

from collections.abc import Callable

from tether.runtime.routing import Routing
from tether.runtime.routing_store import KEEP, set_routing
from tether.runtime.store import Store


class RoutingManager:
    """Read and change the routing of new work; calling it reads it."""

    def __init__(self, store: Callable[[], Store]) -> None:
        self._store = store

    def __call__(self) -> Routing:
        return self.get()

    def get(self) -> Routing:
        """The current version (None before any launch) and an optional ramping share."""
        return self._store().versions.routing()

    def set(
        self,
        *,
        current: str | None | object = KEEP,
        ramping: str | None = None,
        percent: float | None = None,
    ) -> Routing:
        """Route new queued work: all to ``current`` (default: keep it), or ``percent`` % of
        new workflow ids (a stable hash) to ``ramping``. Versions must be known; scheduled
        work goes to current."""
        return set_routing(self._store(), current=current, ramping=ramping, percent=percent)

    def known_versions(self) -> list[str]:
        """The versions routing may name: those an executor has launched with."""
        return sorted(self._store().versions.known())
