"""Pure decisions of the Cloud Run adapter: the traffic list to write, and when a change settled.

Cloud Run's ``Service.traffic`` is a list of entries (a revision or LATEST, a percent, a tag).
The adapter always pins traffic by revision name (a LATEST entry would hand the next deploy
traffic nobody approved) and keeps at most one entry per revision. Every function here works
on plain :class:`Entry` values, so the rules are table-tested without a server:

==========================  ===============================================================
request                     new traffic list
==========================  ===============================================================
``set_traffic(split,tags)``  percents exactly ``split``; tags = current tags, then ``tags``
                            (a requested tag moves from any other revision); entries kept
                            for revisions with a percent or a tag
``keep_warm(rev, tag)``     current percents (LATEST resolved to the latest ready revision)
                            plus a 0 % entry for ``rev`` carrying ``tag``
``retire(rev)``             ``rev``'s entries dropped; refused while ``rev`` has a percent
==========================  ===============================================================
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tether.rollout.platform import PlatformError, SplitError

#: A tag becomes part of a host name (``TAG---SERVICE-…run.app``): a DNS label, kept short.
TAG = re.compile(r"^[a-z]([-a-z0-9]{0,44}[a-z0-9])?$")
#: Cloud Run keeps at most this many revisions per service, deleting the oldest non-serving.
REVISION_CAP = 1000


@dataclass(frozen=True, slots=True)
class Entry:
    """One traffic entry; ``revision`` None means LATEST (the latest ready revision)."""

    revision: str | None
    percent: int = 0
    tag: str = ""


def short(name: str) -> str:
    """``projects/…/revisions/agent-00002-def`` → ``agent-00002-def`` (both forms appear)."""
    return name.rsplit("/", 1)[-1]


def check_split(split: Mapping[str, int], tags: Mapping[str, str]) -> None:
    """What can be refused without reading the service: sum, percents, tag format, duplicates."""
    if not split:
        raise SplitError("the split is empty; name the revisions that take the traffic")
    for name, percent in split.items():
        if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
            raise SplitError(f"{name}: percent must be an integer 0..100, got {percent!r}")
    total = sum(split.values())
    if total != 100:
        raise SplitError(f"the split sums to {total}, not 100: {dict(split)}")
    check_tags(tags)


def check_tags(tags: Mapping[str, str]) -> None:
    """Tags are DNS labels (they become part of a host name) and unique."""
    seen: dict[str, str] = {}
    for name, tag in tags.items():
        if not isinstance(tag, str) or not TAG.match(tag):
            raise SplitError(
                f"tag {tag!r} for {name!r} is not a valid tag: use lowercase letters, digits "
                "and '-', starting with a letter, at most 46 characters"
            )
        if tag in seen:
            raise SplitError(f"tag {tag!r} is requested for both {seen[tag]!r} and {name!r}")
        seen[tag] = name


def check_revisions(
    split: Mapping[str, int], tags: Mapping[str, str], revisions: Mapping[str, bool]
) -> None:
    """Every named revision exists; every one given traffic is ready (``revisions``: readiness)."""
    for name in [*split, *tags]:
        if name not in revisions:
            raise SplitError(
                f"revision {name!r} does not exist (deleted, never deployed, or removed by "
                f"Cloud Run's {REVISION_CAP}-revision cap); describe() lists the known ones"
            )
    for name, percent in split.items():
        if percent > 0 and not revisions[name]:
            raise SplitError(
                f"revision {name!r} is not ready and cannot take {percent} % of traffic; "
                "wait for it to become ready or fix its deployment"
            )


def resolved_split(current: Sequence[Entry], latest_ready: str | None) -> dict[str, int]:
    """The percent per revision now; a LATEST share is attributed to the latest ready one."""
    out: dict[str, int] = {}
    for entry in current:
        name = entry.revision if entry.revision is not None else latest_ready
        if name is not None and entry.percent:
            out[name] = out.get(name, 0) + entry.percent
    return out


def current_tags(current: Sequence[Entry]) -> dict[str, str]:
    """``{revision: tag}`` for pinned entries (the first tag wins if a revision has two)."""
    out: dict[str, str] = {}
    for entry in current:
        if entry.revision is not None and entry.tag:
            out.setdefault(entry.revision, entry.tag)
    return out


def plan_traffic(
    current: Sequence[Entry], split: Mapping[str, int], tags: Mapping[str, str] | None = None
) -> tuple[Entry, ...]:
    """The new traffic list: ``split`` pinned by name, current tags kept, ``tags`` applied."""
    wanted = dict(tags or {})
    moved = set(wanted.values())
    keep = {r: t for r, t in current_tags(current).items() if t not in moved}
    merged = keep | wanted
    order = [e.revision for e in current if e.revision is not None] + [*split, *wanted]
    entries = [
        Entry(name, split.get(name, 0), merged.get(name, ""))
        for name in dict.fromkeys(order)
        if split.get(name, 0) or merged.get(name)
    ]
    # A tagged LATEST entry is an address someone relies on; keep it, without traffic.
    taken = {e.tag for e in entries}
    entries += [
        Entry(None, 0, e.tag)
        for e in current
        if e.revision is None and e.tag and e.tag not in taken
    ]
    return tuple(entries)


def plan_retire(
    current: Sequence[Entry], revision: str, latest_ready: str | None
) -> tuple[Entry, ...]:
    """Drop ``revision``'s entries; refused while it still takes traffic."""
    percent = resolved_split(current, latest_ready).get(revision, 0)
    if percent:
        raise PlatformError(
            f"revision {revision!r} still serves {percent} % of traffic; shift its traffic "
            "to other revisions before retiring it"
        )
    return tuple(e for e in current if e.revision != revision)


def same_traffic(a: Iterable[Entry], b: Iterable[Entry]) -> bool:
    """Equal as routing (order does not matter to Cloud Run)."""
    return sorted(a, key=_key) == sorted(b, key=_key)


def _key(e: Entry) -> tuple[str, int, str]:
    return (e.revision or "", e.percent, e.tag)


def settled(
    *,
    generation: int,
    observed_generation: int,
    reconciling: bool,
    succeeded: bool,
    traffic: Sequence[Entry],
    statuses: Sequence[Entry],
    latest_ready: str | None,
) -> bool:
    """Cloud Run finished applying the last change: generations, condition and routing agree.

    Statuses report LATEST entries either as LATEST or resolved to a revision, so both sides
    are compared as resolved percents and tags; an empty traffic block means 100 % LATEST.
    """
    if reconciling or not succeeded or observed_generation != generation:
        return False
    traffic = traffic or (Entry(None, 100),)  # no traffic block: all to the latest ready

    def view(entries: Sequence[Entry]) -> tuple[dict[str, int], set[tuple[str, str]]]:
        resolved = [Entry(e.revision or latest_ready, e.percent, e.tag) for e in entries]
        return (
            resolved_split(resolved, latest_ready),
            {(e.revision or "", e.tag) for e in resolved if e.tag},
        )

    return view(traffic) == view(statuses)


def near_cap(count: int, cap: int = REVISION_CAP, margin: int = 50) -> str | None:
    """A warning when the service is close to the revision cap, else None."""
    if count < cap - margin:
        return None
    return (
        f"{count} of {cap} revisions: at the cap Cloud Run deletes the oldest revisions not in "
        "traffic; retire drained revisions, and keep revisions with open work tagged"
    )
