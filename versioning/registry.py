"""The version registry: every version of an app, its release tag, state and open work.

Rows are written when an executor launches (``VersionStore.seen``); this module reads them
together with open workflows, live executors and the routing pointer, tags releases
(PEP 440, parsed with ``packaging``) and moves the ``current`` pointer.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from packaging.version import InvalidVersion, Version
from tether.runtime.errors import ConfigurationError
from tether.runtime.leases import ALL_VERSIONS, orphaned_versions
from tether.runtime.records import Status
from tether.runtime.routing import Routing
from tether.runtime.store import Store

RELEASE_MAX = 64
STATES = ("active", "draining", "drained", "retired")


@dataclasses.dataclass(frozen=True, slots=True)
class VersionInfo:
    """One version as ``app.versions()`` and ``tether versions`` show it."""

    version: str
    release: str | None
    platform_revision: str | None
    state: str
    patches: tuple[str, ...]
    first_seen: int | None
    last_seen: int | None
    current: bool  # new work goes here (the routing pointer)
    ramping_percent: float | None  # share of new work while this version ramps up
    open: dict[str, int]  # open workflows by status (ENQUEUED, PENDING, PARKED)
    open_total: int
    executors: int  # live executors running this version
    runnable_by: int  # live executors that may run its workflows (incl. compatible ones)
    orphaned: int  # ENQUEUED/PENDING workflows that no live executor can run
    is_orphaned: bool
    registered: bool  # False: known only from workflows (written before the registry)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def derive_state(stored: str, *, routed: bool, open_total: int) -> str:
    """A version's lifecycle state (pure).

    ``active`` while new work is routed to it (current or ramping); ``draining`` once it
    gets no new work but still has open workflows; ``drained`` when nothing open is left
    (its revision may then be scaled to zero or deleted); ``retired`` once an operator
    retired it (only a drained version can be).
    """
    if stored == "retired":
        return "retired"
    if routed:
        return "active"
    return "draining" if open_total > 0 else "drained"


def parse_release(release: str) -> str:
    """A PEP 440 release tag in normal form (``v1.2`` -> ``1.2``), or a clear error."""
    try:
        normal = str(Version(release))
    except (InvalidVersion, TypeError):
        raise ConfigurationError(
            f"invalid release tag {release!r}: use a PEP 440 version such as 1.4.0, "
            "2.0.0rc1, 2.1.0.post1 or 2024.6.1 (see https://peps.python.org/pep-0440/)"
        ) from None
    if len(normal) > RELEASE_MAX:
        raise ConfigurationError(f"release tag {release!r} is longer than {RELEASE_MAX} characters")
    return normal


def list_versions(store: Store, lease_timeout_ms: int) -> list[VersionInfo]:
    """Every version: registered ones in order of first launch, then unregistered ones."""
    registered = {row["version"]: row for row in store.versions.list()}
    routing = store.versions.routing()
    open_by: dict[str, dict[str, int]] = {}
    for version, status, n in store.workflows.open_counts():
        open_by.setdefault(version, {})[status] = n
    live = store.executors.list(lease_timeout_ms, include_stopped=False)
    runnable_open = {
        v: sum(n for s, n in by.items() if s in Status.RUNNABLE) for v, by in open_by.items()
    }
    orphaned = orphaned_versions(runnable_open, [e.runnable_versions for e in live])
    names = list(registered)
    names += sorted({*open_by, *(e.version for e in live)} - set(registered))
    out = []
    for v in names:
        row = registered.get(v, {})
        opened = open_by.get(v, {})
        out.append(
            VersionInfo(
                version=v,
                release=row.get("release"),
                platform_revision=row.get("platform_revision"),
                state=derive_state(
                    row.get("state", "active"),
                    routed=v in (routing.current, routing.ramping),
                    open_total=sum(opened.values()),
                ),
                patches=tuple(row.get("patches", ())),
                first_seen=row.get("first_seen"),
                last_seen=row.get("last_seen"),
                current=routing.current == v,
                ramping_percent=routing.percent if routing.ramping == v else None,
                open=dict(opened),
                open_total=sum(opened.values()),
                executors=sum(1 for e in live if e.version == v),
                runnable_by=sum(
                    1
                    for e in live
                    if v in e.runnable_versions or ALL_VERSIONS in e.runnable_versions
                ),
                orphaned=orphaned.get(v, 0),
                is_orphaned=orphaned.get(v, 0) > 0,
                registered=v in registered,
            )
        )
    return out


def _unknown(ref: str, known: set[str]) -> ConfigurationError:
    listed = ", ".join(sorted(known)) or "none yet"
    return ConfigurationError(
        f"unknown version {ref!r}: known versions are {listed} (a version becomes known "
        "when an executor running it launches; list them with `tether versions`)"
    )


def resolve(store: Store, ref: str) -> str:
    """A registered version named ``ref``, or the one whose release tag is ``ref``."""
    rows = store.versions.list()
    known = {r["version"] for r in rows}
    if ref in known:
        return ref
    try:
        release = str(Version(ref))
    except InvalidVersion:
        raise _unknown(ref, known) from None
    tagged = [r["version"] for r in rows if r["release"] == release]
    if len(tagged) == 1:
        return str(tagged[0])
    raise _unknown(ref, known)


def tag(store: Store, version: str, release: str | None) -> str | None:
    """Set (or with None, clear) the release tag of a registered version; returns it."""
    rows = store.versions.list()
    if version not in {r["version"] for r in rows}:
        raise _unknown(version, {r["version"] for r in rows})
    normal = parse_release(release) if release is not None else None
    if normal is not None:
        taken = [r["version"] for r in rows if r["release"] == normal and r["version"] != version]
        if taken:
            raise ConfigurationError(
                f"release {normal} already tags version {taken[0]!r}: a release names one "
                f"version; untag it first (`tether versions tag {taken[0]} --clear`)"
            )
    store.versions.update(version, release=normal)
    return normal


def set_current(store: Store, ref: str, *, by: str) -> Routing:
    """Point new work at a registered version (promoting it if it was ramping)."""
    version = resolve(store, ref)
    row = next(r for r in store.versions.list() if r["version"] == version)
    if row["state"] == "retired":
        raise ConfigurationError(f"version {version!r} is retired: it cannot become current again")
    routing = store.versions.routing()
    if routing.ramping == version:
        new = Routing(version)
    else:
        new = Routing(version, routing.ramping, routing.percent)
    store.versions.set_routing(new.validate(), by=by)
    return store.versions.routing()


def retire(store: Store, ref: str, lease_timeout_ms: int) -> VersionInfo:
    """Mark a drained version retired: it can no longer become current or be routed to."""
    version = resolve(store, ref)
    info = next(v for v in list_versions(store, lease_timeout_ms) if v.version == version)
    if info.state != "drained" and info.state != "retired":
        reason = (
            "new work is routed to it"
            if info.state == "active"
            else f"it still has {info.open_total} open workflow(s)"
        )
        raise ConfigurationError(
            f"version {version!r} is {info.state} and cannot be retired: {reason}. Move new "
            "work elsewhere (`tether versions current`) and let its workflows finish, or "
            "migrate them (`tether workflows migrate`)"
        )
    store.versions.update(version, state="retired")
    return next(v for v in list_versions(store, lease_timeout_ms) if v.version == version)
