"""The routing store: where new queued work goes (the current version and a ramping share),
read with a short per-process cache and changed only after validation.

The decision itself is ``routing.route`` (pure); this is the read-validate-write around it
that ``app.set_routing`` and ``tether routing set`` share.
"""

from __future__ import annotations

import threading
import time

from .errors import ConfigurationError
from .routing import Routing
from .store import Store

KEEP = object()  # "leave this part of the routing as it is"
MAX_AGE = 1.0  # seconds an enqueue may route by a routing read this long ago

_cache: dict[tuple[str, str], tuple[float, Routing]] = {}
_cache_lock = threading.Lock()


def current_routing(store: Store) -> Routing:
    """The app's routing, read at most once per ``MAX_AGE`` per process (enqueues are hot).

    A change made in this process applies at once; one made elsewhere within ``MAX_AGE``.
    """
    key = (store.db.url, store.app_name)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and now - hit[0] < MAX_AGE:
        return hit[1]
    routing = store.versions.routing()
    with _cache_lock:
        _cache[key] = (now, routing)
    return routing


def forget_routing(store: Store) -> None:
    with _cache_lock:
        _cache.pop((store.db.url, store.app_name), None)


def set_routing(
    store: Store,
    *,
    current: str | None | object = KEEP,
    ramping: str | None = None,
    percent: float | None = None,
    by: str | None = None,
) -> Routing:
    """Set the current version (default: keep it) and the ramping version and percent.

    ``ramping=None`` ends any ramp (all new work to current). Every named version must be
    known (an executor running it has launched once).
    """
    existing = store.versions.routing()
    new_current = existing.current if current is KEEP else current
    if new_current is None:
        raise ConfigurationError(
            "routing needs a current version: pass current=VERSION (`--current VERSION`)"
        )
    if ramping is None and percent not in (None, 0, 0.0):
        raise ConfigurationError("percent > 0 needs a ramping version (`--ramping VERSION`)")
    if ramping is not None and percent is None:
        raise ConfigurationError(
            f"ramping version {ramping!r} needs a percent within 0..100 (`--percent N`)"
        )
    if percent is not None and not isinstance(percent, (int, float)):
        raise ConfigurationError(f"percent must be a number within 0..100, got {percent!r}")
    routing = Routing(
        current=str(new_current),
        ramping=ramping,
        percent=float(percent or 0.0) if ramping is not None else 0.0,
    )
    routing.validate(store.versions.known())
    store.versions.set_routing(routing, by=by)
    forget_routing(store)
    return routing
