"""Versions: the registry (list, tag, retire) and the current version new work goes to."""

from __future__ import annotations

import dataclasses

from tether.versioning.registry import VersionInfo

from ..app import Tether
from .records import Record


@dataclasses.dataclass(frozen=True)
class TagResult(Record):
    version: str
    release: str | None  # the PEP 440 normal form; None: the tag was cleared


@dataclasses.dataclass(frozen=True)
class CurrentVersion(Record):
    """Where new work goes, and where it went before this call."""

    current: str | None
    previous: str | None
    ramping: str | None
    ramping_percent: float


def list_versions(app: Tether) -> list[VersionInfo]:
    """Every version: release, state, open workflows, executors, orphaned work, current."""
    return app.versions()


def tag_version(app: Tether, version: str, release: str | None) -> TagResult:
    """Tag ``version`` with a PEP 440 ``release`` (e.g. 1.4.0), or clear it with None."""
    return TagResult(version, app.versions.tag(version, release))


def retire_version(app: Tether, version: str) -> VersionInfo:
    """Retire a drained version (no new work routed to it, nothing open)."""
    return app.versions.retire(version)


def current_version(app: Tether, set_to: str | None = None) -> CurrentVersion:
    """The current version; with ``set_to`` (a name or release tag), point new work there."""
    previous = app.routing().current
    if set_to is not None:
        app.versions.set_current(set_to)
    routing = app.routing()
    return CurrentVersion(routing.current, previous, routing.ramping, routing.percent)
