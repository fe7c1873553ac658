"""Retire or keep an old revision (pure; no I/O).

A revision with open work is never untagged or deleted: it stays tagged (reachable, and
warm where configured) and is woken when no live executor can run its work. Only when the
database shows no open work is it retired. Near the service's revision cap the platform
deletes the oldest revisions by itself, so drained revisions are then deleted explicitly to
keep room, and one with open work is kept tagged and reported.
"""

from __future__ import annotations

from dataclasses import dataclass

SERVING, ACTIVE, KEEP_WARM, TAG, WAKE, RETIRE, DELETE, UNKNOWN, IDLE = (
    "serving",
    "in-rollout",
    "keep-warm",
    "tag",
    "wake",
    "retire",
    "delete",
    "unknown",
    "idle",
)
REVISION_CAP = 1000
CAP_MARGIN = 50


@dataclass(frozen=True)
class RevisionWork:
    """What the platform and the database say about one revision."""

    name: str
    version: str | None
    percent: int
    tag: str | None
    open_work: int  # open workflows of its version (enqueued, pending, parked)
    live_executors: int  # live executors able to run its version


@dataclass(frozen=True)
class Decision:
    revision: str
    action: str
    reason: str

    @property
    def keeps(self) -> bool:
        return self.action not in (RETIRE, DELETE)


def retire_or_keep(
    rev: RevisionWork,
    *,
    protected: frozenset[str] = frozenset(),
    revision_count: int = 0,
    cap: int = REVISION_CAP,
    delete: bool = False,
) -> Decision:
    near_cap = revision_count >= cap - CAP_MARGIN
    if rev.percent > 0:
        return Decision(rev.name, SERVING, f"serves {rev.percent}% of traffic")
    if rev.name in protected:
        return Decision(rev.name, ACTIVE, "part of a rollout in progress")
    if rev.version is None:
        return Decision(rev.name, UNKNOWN, "its tether version is unknown: left as it is")
    if rev.open_work > 0:
        cap_note = (
            f"; the service has {revision_count} of {cap} revisions, keep it tagged so it is "
            "not among the oldest deleted automatically"
            if near_cap
            else ""
        )
        if rev.tag is None:
            return Decision(
                rev.name, TAG, f"{rev.open_work} open workflow(s) and no tag: tag it{cap_note}"
            )
        if rev.live_executors == 0:
            return Decision(
                rev.name,
                WAKE,
                f"{rev.open_work} open workflow(s) and no live executor: wake it{cap_note}",
            )
        return Decision(
            rev.name, KEEP_WARM, f"{rev.open_work} open workflow(s) still running{cap_note}"
        )
    if rev.tag is None and not (delete or near_cap):
        return Decision(rev.name, IDLE, "no traffic, no tag, no open work")
    if delete or near_cap:
        why = "delete requested" if delete else f"{revision_count} of {cap} revisions"
        return Decision(rev.name, DELETE, f"drained (no open work), {why}: delete it")
    return Decision(rev.name, RETIRE, "drained (no open work): untag it")
