"""Which revision is the candidate and which the baseline, and the tether version of each
(pure; no I/O).

A revision's version is what the platform reports, else the version the registry links to it
(an app that sets its own version records its platform revision), else its name (on Cloud
Run, ``K_REVISION`` is the default version). The candidate may be named by its revision, its
version, or its PEP 440 release tag. The baseline is the revision serving the most traffic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from packaging.version import InvalidVersion, Version

from .platform import Revision, ServiceState
from .split import Side, default_tag


def version_of(rev: Revision, linked: Mapping[str, str]) -> str:
    return rev.version or linked.get(rev.name) or rev.name


def choose_sides(
    state: ServiceState, candidate: str, registry: Sequence[Mapping[str, Any]]
) -> tuple[Side, Side] | str:
    """(baseline, candidate), or the reason the rollout cannot start."""
    linked = {r["platform_revision"]: r["version"] for r in registry if r.get("platform_revision")}
    known = {r["version"] for r in registry}
    rev = state.revision(candidate) or _by_version(state, candidate, registry, linked)
    if rev is None:
        return (
            f"no revision of {state.name!r} is {candidate!r} (by name, version or release tag); "
            f"revisions: {[r.name for r in state.revisions]}"
        )
    if not rev.ready:
        return f"revision {rev.name!r} is not ready: it cannot take traffic"
    serving = sorted(
        (r for r in state.revisions if r.percent > 0 and r.name != rev.name),
        key=lambda r: -r.percent,
    )
    if not serving:
        return f"{rev.name!r} already serves all traffic: nothing to roll out"
    base = serving[0]
    sides = []
    for r in (base, rev):
        version = version_of(r, linked)
        if version not in known:
            return (
                f"version {version!r} of revision {r.name!r} is unknown to tether: an executor "
                "of it must launch once (deploying the revision starts one) before traffic moves"
            )
        sides.append((r, version))
    (b, bv), (c, cv) = sides
    base_tag = b.tag or default_tag(bv)
    cand_tag = c.tag or default_tag(cv)
    if cand_tag == base_tag:
        cand_tag = f"{cand_tag}-next"[:46]
    return Side(b.name, bv, base_tag), Side(c.name, cv, cand_tag)


def _by_version(
    state: ServiceState,
    ref: str,
    registry: Sequence[Mapping[str, Any]],
    linked: Mapping[str, str],
) -> Revision | None:
    version = ref
    if ref not in {r["version"] for r in registry}:
        try:
            release = Version(ref)
        except InvalidVersion:
            return None
        tagged = [
            r["version"] for r in registry if r.get("release") and _same(r["release"], release)
        ]
        if len(tagged) != 1:
            return None
        version = tagged[0]
    matches = [r for r in state.revisions if version_of(r, linked) == version]
    return matches[-1] if len(matches) >= 1 else None


def _same(tag: str, release: Version) -> bool:
    try:
        return Version(tag) == release
    except InvalidVersion:
        return False
