"""Version identity, patch gates, replay and compatibility between versions."""

from __future__ import annotations

from .identity import check_version, resolve_version, source_hash
from .patches import deprecate_patch, patch

__all__ = ["check_version", "deprecate_patch", "patch", "resolve_version", "source_hash"]
