"""Which version can take new work by workflow *name*: what each version's code declares.

Every executor records, at launch, the workflow names its code registers (the version
registry row). New work created by name, outside any executor's own code (a schedule's
tick, a client's enqueue), must go to a version that declares that name: a version that
lacks it can only fail it. The decisions are pure (``version_for``, ``name_problem``); the
facts come from ``candidates``. Versions launched before declarations were recorded have
``workflows=None`` (unknown) and are trusted, as they were before.
"""

from __future__ import annotations

import difflib
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .store import Store

DEFAULT_LEASE_MS = 10_000  # for executors that recorded no lease timeout
MAX_AGE = 1.0  # seconds an enqueue may check names against a read this long ago


@dataclass(frozen=True, slots=True)
class Candidate:
    """A registered version, as far as placing new work on it goes."""

    version: str
    workflows: frozenset[str] | None  # names its code declares; None: unknown
    live: bool  # a live executor can run its workflows
    retired: bool
    first_seen: int

    def declares(self, name: str) -> bool:
        return self.workflows is None or name in self.workflows


def version_for(name: str, current: str | None, candidates: Sequence[Candidate]) -> str | None:
    """The version work named ``name`` goes to: ``current`` if its code declares the name,
    else the newest live version that does, else the newest not retired one that does (its
    work waits for an executor); None when no version declares it."""
    by_name = {c.version: c for c in candidates}
    here = by_name.get(current) if current is not None else None
    if current is not None and (here is None or here.declares(name)):
        return current  # an unregistered current version is trusted as before
    able = [c for c in candidates if not c.retired and c.workflows is not None and c.declares(name)]
    for pool in ([c for c in able if c.live], able):
        if pool:
            return max(pool, key=lambda c: (c.first_seen, c.version)).version
    return None


def newer_declared(candidates: Sequence[Candidate], version: str) -> set[str]:
    """Workflow names declared by versions not retired first seen after ``version``."""
    mine = next((c.first_seen for c in candidates if c.version == version), None)
    if mine is None:
        return set()
    return {
        name
        for c in candidates
        if c.first_seen > mine and not c.retired and c.workflows is not None
        for name in c.workflows
    }


def declared(candidates: Iterable[Candidate]) -> set[str] | None:
    """Every workflow name some version not retired declares; None if any is unknown."""
    out: set[str] = set()
    for c in candidates:
        if c.retired:
            continue
        if c.workflows is None:
            return None
        out |= c.workflows
    return out


def name_problem(name: str, known: set[str] | None, app_name: str) -> str | None:
    """Why work named ``name`` cannot run in this app, or None (also when names are unknown,
    or no version registered yet)."""
    if known is None or not known or name in known:
        return None
    hint = ""
    suffix = [k for k in sorted(known) if k.rsplit(".", 1)[-1] == name.rsplit(".", 1)[-1]]
    close = suffix or difflib.get_close_matches(name, sorted(known), n=1)
    if close:
        hint = f" (did you mean {close[0]!r}? default names are module-qualified)"
    return (
        f"no version of app {app_name!r} declares a workflow named {name!r}{hint}; "
        f"declared: {', '.join(sorted(known))}"
    )


def candidates(store: Store, *, liveness: bool = True) -> list[Candidate]:
    """The app's registered versions with what their code declares and (unless not
    asked for: ``live`` is then False) whether a live executor runs them."""
    runnable: set[str] = set()
    if liveness:
        live = store.executors.list(DEFAULT_LEASE_MS, include_stopped=False)
        runnable = {v for e in live for v in e.runnable_versions}
    out = []
    for row in store.versions.list():
        names = row.get("workflows")
        out.append(
            Candidate(
                version=row["version"],
                workflows=None if names is None else frozenset(names),
                live="*" in runnable or row["version"] in runnable,
                retired=row["state"] == "retired",
                first_seen=row["first_seen"],
            )
        )
    return out


_cache: dict[tuple[str, str], tuple[float, set[str] | None]] = {}
_lock = threading.Lock()


def declared_names(store: Store) -> set[str] | None:
    """``declared(candidates(store))``, read at most once per ``MAX_AGE`` (enqueues are hot)."""
    key = (store.db.url, store.app_name)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
    if hit is not None and now - hit[0] < MAX_AGE:
        return hit[1]
    names = declared(candidates(store, liveness=False))
    with _lock:
        _cache[key] = (now, names)
    return names
