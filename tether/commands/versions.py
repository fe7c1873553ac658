"""Versions: the registry (list, tag, retire) and the current version new work goes to."""

from __future__ import annotations

import dataclasses

from tether.versioning.registry import VersionInfo

from ..app import Tether
from .records import Record
from .session import check_known_app


@dataclasses.dataclass(frozen=True)
class TagResult(Record):
    version: str
    release: str | None  # the PEP 440 normal form; None: the tag was cleared
    previous: str | None = None  # the tag this one replaced (a retag is never silent)


@dataclasses.dataclass(frozen=True)
class CurrentVersion(Record):
    """Where new work goes, and where it went before this call."""

    current: str | None
    previous: str | None
    ramping: str | None
    ramping_percent: float
    notes: list[str] = dataclasses.field(default_factory=list)  # a ramp ended; no executor


def list_versions(app: Tether) -> list[VersionInfo]:
    """Every version: release, state, open workflows, executors, orphaned work, current.
    An app with none is unknown here (a typo in its name): refused, listing known apps."""
    rows = app.versions()
    if not rows:
        check_known_app(app)
    return rows


def tag_version(app: Tether, version: str, release: str | None) -> TagResult:
    """Tag ``version`` with a PEP 440 ``release`` (e.g. 1.4.0), or clear it with None."""
    name = app.versions.get(version).version
    release, previous = app.versions.retag(version, release)
    return TagResult(name, release, previous)


def retire_version(app: Tether, version: str) -> VersionInfo:
    """Retire a version that gets no new work and has nothing open."""
    return app.versions.retire(version)


def unretire_version(app: Tether, version: str) -> VersionInfo:
    """Undo a retirement: the version may launch, start work and be routed to again."""
    return app.versions.unretire(version)


def current_version(
    app: Tether, set_to: str | None = None, *, force: bool = False
) -> CurrentVersion:
    """The current version; with ``set_to`` (a name or release tag), point new work there
    (a version no live executor runs only with ``force``)."""
    previous = app.routing().current
    notes: list[str] = []
    if set_to is not None:
        _, notes = app.versions.point_current(set_to, force=force)
    routing = app.routing()
    return CurrentVersion(routing.current, previous, routing.ramping, routing.percent, notes)
