"""Pure decisions of the local ingress: which revision a request goes to, tags, instance floors.

Cloud Run's ingress sends each request to a revision at random in proportion to the traffic
percentages, and a tag URL always to its revision; the local router does the same with
these functions (no I/O here; table-tested in tests/unit/test_ingress.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from .platform import SplitError

TAG_PREFIX = "/_tag/"
TAG_HOST_SEPARATOR = "---"
_TAG = re.compile(r"^[a-z0-9]([a-z0-9-]{0,44}[a-z0-9])?$")


def pick_revision(split: Mapping[str, int], draw: float) -> str | None:
    """The revision for a request, given a uniform ``draw`` in [0, 100); None without traffic.

    Revisions are taken in name order, so the same draw always picks the same revision.
    """
    total = 0
    chosen = None
    for name in sorted(split):
        percent = split[name]
        if percent <= 0:
            continue
        total += percent
        chosen = name
        if draw < total:
            return name
    return chosen  # draws at the top end (rounding) go to the last revision with traffic


def parse_tag(path: str, host: str | None) -> tuple[str | None, str]:
    """``(tag, path to forward)`` from ``/_tag/TAG/rest`` or a ``TAG---router`` Host header."""
    if path.startswith(TAG_PREFIX):
        rest = path[len(TAG_PREFIX) :]
        tag, slash, tail = rest.partition("/")
        if "?" in tag:
            tag, _, query = tag.partition("?")
            return (tag or None), "/?" + query
        return (tag or None), ("/" + tail if slash else "/")
    if host and TAG_HOST_SEPARATOR in host:
        return host.split(TAG_HOST_SEPARATOR, 1)[0] or None, path
    return None, path


def tag_url(router_url: str, tag: str) -> str:
    """The URL that always reaches the tagged revision."""
    return f"{router_url.rstrip('/')}{TAG_PREFIX}{tag}"


def check_split(
    split: Mapping[str, int], known: Mapping[str, bool], tags: Mapping[str, str]
) -> dict[str, int]:
    """Validate a traffic split (``known``: revision → ready) and tags (revision → tag).

    Returns the split without zero entries; raises ``SplitError`` saying what to fix.
    """
    for name, percent in split.items():
        if name not in known:
            raise SplitError(f"unknown revision {name!r}: deploy it first (known: {sorted(known)})")
        if not isinstance(percent, int) or isinstance(percent, bool) or not 0 <= percent <= 100:
            raise SplitError(
                f"the share of {name!r} must be a whole percent 0-100, not {percent!r}"
            )
        if percent > 0 and not known[name]:
            raise SplitError(
                f"revision {name!r} is not ready: wait until its instances are healthy"
            )
    total = sum(split.values())
    if total != 100:
        raise SplitError(f"traffic percentages must sum to 100, not {total}: {dict(split)}")
    seen: dict[str, str] = {}
    for name, tag in tags.items():
        if name not in known:
            raise SplitError(f"cannot tag unknown revision {name!r}")
        if not _TAG.match(tag):
            raise SplitError(f"tag {tag!r} must be lowercase letters, digits and '-' (<= 46)")
        if tag in seen:
            raise SplitError(f"tag {tag!r} is given to both {seen[tag]!r} and {name!r}")
        seen[tag] = name
    return {name: percent for name, percent in split.items() if percent > 0}


def instance_floor(revision_min: int | None, service_min: int | None, percent: int) -> int:
    """Instances a revision keeps running: its own minimum, or its traffic share of the
    service's minimum (rounded up, as Cloud Run splits a service-level minimum)."""
    share = math.ceil((service_min or 0) * percent / 100)
    return max(revision_min or 0, share)
