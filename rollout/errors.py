"""Errors of rollouts (part of tether's one hierarchy, rooted at ``TetherError``)."""

from __future__ import annotations

from tether.runtime.errors import TetherError


class RolloutError(TetherError):
    """A rollout cannot do what was asked; the message says why and what to do."""


class RolloutConflictError(RolloutError):
    """Another rollout of the same service is in progress."""


class RolloutNotFoundError(RolloutError):
    """No rollout with that id."""
