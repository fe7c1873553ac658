"""Version identity, patch gates, replay and compatibility between versions."""

from __future__ import annotations

from .identity import check_version, resolve_version, source_hash
from .patch_report import PatchReport, PatchStatus
from .patches import deprecate_patch, patch
from .registry import VersionInfo
from .replay import ReplayResult, ReplayStop

__all__ = [
    "PatchReport",
    "PatchStatus",
    "ReplayResult",
    "ReplayStop",
    "VersionInfo",
    "check_version",
    "deprecate_patch",
    "patch",
    "resolve_version",
    "source_hash",
]
