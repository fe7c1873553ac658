"""``app.routing``: where new queued work goes (the current version and a ramping share).

The one way to read routing: ``app.routing()`` (or ``app.routing.get()``). The decision is
``tether.runtime.routing.route`` (pure); writes validate and go through the runtime.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tether.runtime.routing import Routing
from tether.runtime.routing_store import KEEP, set_routing
from tether.runtime.store import Store
from tether.versioning import registry as version_registry

log = logging.getLogger("tether.routing")


class RoutingManager:
    """Read and change the routing of new work; calling it reads it."""

    def __init__(self, store: Callable[[], Store], lease_timeout_ms: int) -> None:
        self._store = store
        self._lease_timeout_ms = lease_timeout_ms

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
        force: bool = False,
    ) -> Routing:
        """Route new queued work: all to ``current`` (default: keep it), or ``percent`` % of
        new workflow ids (a stable hash) to ``ramping``. Versions are names or release tags
        of known versions; a retired one is refused, and so is one no live executor runs
        unless ``force``. Scheduled work goes to current when its code declares it."""
        return self.change(current=current, ramping=ramping, percent=percent, force=force)[0]

    def change(
        self,
        *,
        current: str | None | object = KEEP,
        ramping: str | None = None,
        percent: float | None = None,
        force: bool = False,
    ) -> tuple[Routing, list[str]]:
        """``set``, returning the new routing and warnings for the operator."""
        store = self._store()
        existing = store.versions.routing()
        new_current = None if current is KEEP else current
        if new_current is not None and not isinstance(new_current, str):
            raise TypeError("current must be a version name or release tag")
        # Only versions this change newly routes to are checked: keeping the current one
        # must not fail because its executors are momentarily gone.
        refs = [
            new_current if new_current != existing.current else None,
            ramping if ramping != existing.ramping else None,
        ]
        names, warnings = version_registry.check_routable(
            store, refs, self._lease_timeout_ms, force=force
        )
        routing = set_routing(
            store,
            current=KEEP if current is KEEP else (names[0] or current),
            ramping=names[1] or ramping,
            percent=percent,
        )
        for warning in warnings:
            log.warning("%s", warning)
        return routing, warnings

    def known_versions(self) -> list[str]:
        """The versions routing may name: those an executor has launched with."""
        return sorted(self._store().versions.known())
