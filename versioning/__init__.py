"""Version identity, patch gates, replay and compatibility between versions."""

from __future__ import annotations

from .identity import check_version, resolve_version, source_hash

__all__ = ["check_version", "resolve_version", "source_hash"]
