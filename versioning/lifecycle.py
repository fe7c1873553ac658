"""A version's lifecycle, as pure decisions: its state, and whether it may be retired,
routed to, launched or given new work.

The registry (``registry.py``) reads the facts (stored state, routing, open and past work,
live executors) and asks these functions; table tests pin every combination.
"""

from __future__ import annotations

from tether.runtime.errors import ConfigurationError

STATES = ("idle", "active", "draining", "drained", "retired")


def derive_state(stored: str, *, routed: bool, open_total: int, had_work: bool) -> str:
    """A version's lifecycle state.

    ``idle`` when nothing is open and the version either never had work or new work is
    routed to it but none has come yet (a fresh canary: its revision must not be read as
    one that can go); ``active`` while new work is routed to it and some is open;
    ``draining`` once it gets no new work but still has open workflows; ``drained`` when it
    had work, gets none now and nothing open is left (its revision may then be scaled to
    zero or deleted); ``retired`` once an operator retired it.
    """
    if stored == "retired":
        return "retired"
    if open_total == 0 and (routed or not had_work):
        return "idle"
    if routed:
        return "active"
    return "draining" if open_total > 0 else "drained"


def retire_refusal(state: str, *, routed: bool, open_total: int) -> str | None:
    """Why a version in ``state`` cannot be retired, or None when it can.

    Only a version that gets no new work and has nothing open can: a drained one, or an
    idle one nothing is routed to (it never ran anything).
    """
    if routed:
        return "new work is routed to it"
    if open_total > 0:
        return f"it still has {open_total} open workflow(s)"
    return None


def route_refusal(version: str, *, retired: bool, live_runners: int, force: bool) -> str | None:
    """Why new work must not be routed to ``version``, or None when it may be.

    A retired version is refused outright (un-retire it first). A version no live executor
    can run is refused unless ``force``: its new work would sit orphaned until one starts.
    """
    if retired:
        return (
            f"version {version!r} is retired: un-retire it first "
            f"(`tether versions unretire {version}`, app.versions.unretire)"
        )
    if live_runners == 0 and not force:
        return (
            f"no live executor runs version {version!r}, so new work routed there would wait "
            "until one starts: start its executors first, or pass --force (force=True) to "
            "route to it anyway"
        )
    return None


def check_not_retired(version: str, stored: str | None, *, doing: str) -> None:
    """Refuse ``doing`` (launching, starting work) on a retired version."""
    if stored == "retired":
        raise ConfigurationError(
            f"version {version!r} is retired, so it cannot {doing}: its work would be "
            f"orphaned. Un-retire it (`tether versions unretire {version}`, "
            "app.versions.unretire) or deploy a new version"
        )
