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

from .lifecycle import STATES as STATES
from .lifecycle import derive_state as derive_state
from .lifecycle import retire_refusal, route_refusal

RELEASE_MAX = 64


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
    routed = {routing.current, routing.ramping}
    # Only a version nothing is routed to and nothing is open on needs the history lookup.
    had_work = store.versions.had_work(v for v in names if v not in routed and not open_by.get(v))
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
                    routed=v in routed,
                    open_total=sum(opened.values()),
                    had_work=v in had_work or bool(opened),
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


def resolve_loose(store: Store, ref: str) -> str:
    """``ref`` itself, or the version a release tag ``ref`` names (filters accept either)."""
    try:
        return resolve(store, ref)
    except ConfigurationError:
        return ref


def tag(store: Store, version: str, release: str | None) -> tuple[str | None, str | None]:
    """Set (or with None, clear) the release tag of a registered version (a name or its
    current tag); returns (the new tag, the tag it replaced)."""
    version = resolve(store, version)
    rows = store.versions.list()
    normal = parse_release(release) if release is not None else None
    if normal is not None:
        taken = [r["version"] for r in rows if r["release"] == normal and r["version"] != version]
        if taken:
            raise ConfigurationError(
                f"release {normal} already tags version {taken[0]!r}: a release names one "
                f"version; untag it first (`tether versions tag {taken[0]} --clear`)"
            )
    previous = next(r["release"] for r in rows if r["version"] == version)
    store.versions.update(version, release=normal)
    return normal, previous


def live_runners(store: Store, version: str, lease_timeout_ms: int) -> int:
    """Live executors that may run ``version``'s workflows (its own or compatible ones)."""
    live = store.executors.list(lease_timeout_ms, include_stopped=False)
    return sum(
        1 for e in live if version in e.runnable_versions or ALL_VERSIONS in e.runnable_versions
    )


def check_routable(
    store: Store, refs: list[str | None], lease_timeout_ms: int, *, force: bool
) -> tuple[list[str | None], list[str]]:
    """Resolve the versions new work would be routed to (names or release tags), refusing a
    retired one and, unless ``force``, one no live executor runs; returns (their names,
    warnings about forced ones)."""
    states = {r["version"]: r["state"] for r in store.versions.list()}
    names: list[str | None] = []
    warnings: list[str] = []
    for ref in refs:
        if ref is None:
            names.append(None)
            continue
        name = resolve(store, ref)
        runners = live_runners(store, name, lease_timeout_ms)
        refusal = route_refusal(
            name, retired=states.get(name) == "retired", live_runners=runners, force=force
        )
        if refusal is not None:
            raise ConfigurationError(refusal)
        if runners == 0:
            warnings.append(
                f"no live executor runs version {name!r}: its new work waits until one starts"
            )
        names.append(name)
    return names, warnings


def set_current(
    store: Store, ref: str, *, by: str, lease_timeout_ms: int | None = None, force: bool = True
) -> tuple[Routing, list[str]]:
    """Point new work at a registered version (promoting it if it was ramping); returns
    the new routing and what the caller should be told (a ramp that ended, no executor).

    With ``lease_timeout_ms``, a version no live executor runs is refused unless ``force``.
    """
    version = resolve(store, ref)
    row = next(r for r in store.versions.list() if r["version"] == version)
    if row["state"] == "retired":
        raise ConfigurationError(
            f"version {version!r} is retired: un-retire it first "
            f"(`tether versions unretire {version}`) to make it current again"
        )
    notes: list[str] = []
    if lease_timeout_ms is not None:
        _, notes = check_routable(store, [version], lease_timeout_ms, force=force)
    routing = store.versions.routing()
    if routing.ramping == version:
        new = Routing(version)
        notes.append(
            f"the ramp of {version} at {routing.percent:g}% ended: {version} now gets all new work"
        )
    else:
        new = Routing(version, routing.ramping, routing.percent)
    store.versions.set_routing(new.validate(), by=by)
    return store.versions.routing(), notes


def retire(store: Store, ref: str, lease_timeout_ms: int) -> VersionInfo:
    """Mark a version retired once it gets no new work and has nothing open: it can no
    longer launch, start work, become current or be routed to (until un-retired)."""
    version = resolve(store, ref)
    info = next(v for v in list_versions(store, lease_timeout_ms) if v.version == version)
    if info.state != "retired":
        reason = retire_refusal(
            info.state,
            routed=info.current or info.ramping_percent is not None,
            open_total=info.open_total,
        )
        if reason is not None:
            raise ConfigurationError(
                f"version {version!r} is {info.state} and cannot be retired: {reason}. Move "
                "new work elsewhere (`tether versions current V`, `tether routing set`) and "
                "let its workflows finish, or migrate them (`tether workflows migrate`)"
            )
    store.versions.update(version, state="retired")
    return next(v for v in list_versions(store, lease_timeout_ms) if v.version == version)


def unretire(store: Store, ref: str, lease_timeout_ms: int) -> VersionInfo:
    """Undo ``retire``: the version may launch, start work and be routed to again."""
    version = resolve(store, ref)
    store.versions.update(version, state="active")
    return next(v for v in list_versions(store, lease_timeout_ms) if v.version == version)


def stored_state(store: Store, version: str) -> str | None:
    """The registry's stored state of ``version`` (None: never launched)."""
    return next((r["state"] for r in store.versions.list() if r["version"] == version), None)


def source_hash_of(store: Store, version: str) -> str | None:
    """The hash of the workflow sources ``version`` launched with (None: not recorded)."""
    row = next((r for r in store.versions.list() if r["version"] == version), None)
    return None if row is None else row.get("source_hash")
