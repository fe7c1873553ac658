"""Version identity: which code a process runs.

Resolution order (DESIGN §3): explicit ``version=`` > ``TETHER_APP_VERSION`` > Cloud Run's
``K_REVISION`` > a hash of the registered workflow sources (so any change to workflow code
yields a new version unless the team names versions itself).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable

from tether.runtime.errors import ConfigurationError

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+\-]{0,127}$")


def check_version(version: str) -> str:
    if not isinstance(version, str) or not _VERSION.match(version):
        raise ConfigurationError(
            f"invalid version {version!r}: use 1-128 characters (letters, digits, '.', '_', "
            "'-', '+', ':'), starting with a letter or digit"
        )
    return version


def source_hash(app_name: str, sources: Iterable[str]) -> str:
    h = hashlib.sha256(app_name.encode())
    for src in sorted(sources):
        h.update(b"\0")
        h.update(src.encode())
    return "src-" + h.hexdigest()[:12]


def resolve_version(
    explicit: str | None, app_name: str, workflow_sources: Iterable[str]
) -> tuple[str, str]:
    """The version and where it came from (for ``tether info``)."""
    if explicit:
        return check_version(explicit), "argument"
    for var in ("TETHER_APP_VERSION", "K_REVISION"):
        value = os.environ.get(var)
        if value:
            return check_version(value), var
    return source_hash(app_name, workflow_sources), "source hash"
