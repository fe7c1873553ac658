"""Orphaned work: open workflows of a version that no live executor can run. Each is woken
through a revision of its version (its tag URL starts an instance, whose executor recovers
them), and reported when that is impossible or fails.

A rollout's drain does this for the revision it retires; this check covers every version, at
any time (an old revision scaled to zero after its drain was handed off, a version whose
executors all crashed). ``find_orphans`` decides (pure); ``check_orphans`` reads the
database and the platform, performs, and records each wake and failure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tether.runtime.clock import now_ms
from tether.runtime.store import Store
from tether.runtime.store.health import open_work
from tether.runtime.store.rollouts import RolloutStore

from .actions import INTERNAL
from .platform import Revision
from .platforms import open_platform
from .sides import version_of
from .split import default_tag

ORPHANS = "tether.rollout.orphans"
WAKE, TAG_AND_WAKE, MISSING = "wake", "tag-and-wake", "missing"


@dataclass(frozen=True)
class Orphan:
    """One orphaned version and what to do about it."""

    version: str
    open_work: int
    action: str  # wake | tag-and-wake | missing
    revision: str | None
    tag: str | None
    reason: str


def find_orphans(
    revisions: Sequence[Revision],
    work: Mapping[str, int],
    live: Mapping[str, int],
    linked: Mapping[str, str] | None = None,
) -> list[Orphan]:
    """Versions with open work and no live executor able to run them, each with the revision
    to wake (a ready one, serving or tagged first); a wake goes through a tag URL, so an
    untagged revision is tagged first."""
    out = []
    for version, n in sorted(work.items()):
        if n <= 0 or live.get(version, 0) > 0:
            continue
        mine = [r for r in revisions if version_of(r, linked or {}) == version]
        ranked = sorted(mine, key=lambda r: (r.ready, r.percent > 0, r.tag is not None))
        best = ranked[-1] if ranked else None
        if best is None:
            out.append(
                Orphan(
                    version,
                    n,
                    MISSING,
                    None,
                    None,
                    f"{n} open workflow(s) of {version} and no revision of it to wake: deploy "
                    "it again, or move them (`tether workflows migrate`)",
                )
            )
        elif best.tag:
            out.append(
                Orphan(
                    version,
                    n,
                    WAKE,
                    best.name,
                    best.tag,
                    f"{n} open workflow(s) of {version} and no live executor: wake "
                    f"{best.name} through its tag {best.tag!r}",
                )
            )
        else:
            tag = default_tag(version)
            out.append(
                Orphan(
                    version,
                    n,
                    TAG_AND_WAKE,
                    best.name,
                    tag,
                    f"{n} open workflow(s) of {version} and no live executor: {best.name} "
                    f"has no tag to be woken through, tag it {tag!r} and wake it",
                )
            )
    return out


def log_id(service: str) -> str:
    """The id the orphan check's wakes and failures are logged under (beside rollouts')."""
    return f"orphans:{service}"


def check_orphans(
    store: Store, spec: dict[str, Any], lease_timeout_ms: int, *, now: int | None = None
) -> list[dict[str, Any]]:
    """Find orphaned versions, wake their revisions and record each outcome."""
    platform = open_platform(spec)
    state = platform.describe()
    work = open_work(store.db, store.app_name, exclude=INTERNAL)
    executors = store.executors.list(lease_timeout_ms, include_stopped=False)
    live = {
        v: sum(1 for e in executors if v in e.runnable_versions or "*" in e.runnable_versions)
        for v in work
    }
    registry = store.versions.list()
    linked = {r["platform_revision"]: r["version"] for r in registry if r.get("platform_revision")}
    rollouts = RolloutStore(store.db, store.app_name)
    t = now_ms() if now is None else now
    out = []
    for o in find_orphans(state.revisions, work, live, linked):
        done = asdict(o)
        woke = False
        try:
            if o.action == TAG_AND_WAKE and o.revision and o.tag:
                platform.keep_warm(o.revision, o.tag)
            woke = o.action != MISSING and o.revision is not None and platform.wake(o.revision)
        except Exception as exc:  # noqa: BLE001 - a refused tag or wake is reported, not raised
            done["error"] = f"{type(exc).__name__}: {exc}"
        done["woken"] = woke
        if not woke and o.action != MISSING:
            done["reason"] = (
                f"{o.reason}; waking it failed ({done.get('error', 'no answer')}): its "
                f"workflows stay orphaned until an executor of {o.version} runs"
            )
        kind = "orphan-woken" if woke else "orphan-reported"
        rollouts.record(log_id(state.name), f"{t}:{o.version}", kind, done)
        out.append(done)
    return out


def workflow_for(
    store: Callable[[], Store],
    spec: dict[str, Any],
    lease_timeout_ms: Callable[[], int],
    step: Callable[[Callable[..., Any], str], Callable[..., Any]],
) -> tuple[str, Callable[..., Any]]:
    """The scheduled workflow that checks one service: (its name, its function)."""
    name = f"{ORPHANS}:{spec.get('service') or 'service'}"

    def once(tick_ms: int) -> list[dict[str, Any]]:
        return check_orphans(store(), spec, lease_timeout_ms(), now=tick_ms)

    checked = step(once, f"{name}.check")

    def orphans(tick: Any) -> list[dict[str, Any]]:
        return list(checked(int(tick.timestamp() * 1000)))

    return name, orphans
