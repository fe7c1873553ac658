"""Filters for listing workflows beyond status, version and name (validated, then handed
to the store as plain values)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from .errors import ConfigurationError

When = dt.datetime | int | float | None


def epoch_ms(value: When, what: str) -> int | None:
    """A datetime (naive means UTC) or epoch milliseconds, as epoch milliseconds."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp() * 1000)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    raise ConfigurationError(
        f"{what} must be a datetime or epoch milliseconds, got {type(value).__name__}"
    )


@dataclasses.dataclass(frozen=True)
class Filters:
    """``id_prefix``: ids starting with it. ``parent_id``: children of that workflow.
    ``queue``: workflows that came through that queue. ``forked_from``: forks of that
    workflow. ``created_after``/``created_before`` and ``completed_after``/``completed_before``:
    time windows (after is inclusive, before exclusive; a datetime or epoch ms)."""

    id_prefix: str | None = None
    parent_id: str | None = None
    queue: str | None = None
    forked_from: str | None = None
    created_after: When = None
    created_before: When = None
    completed_after: When = None
    completed_before: When = None

    def to_store(self) -> dict[str, Any]:
        return {
            "id_prefix": self.id_prefix,
            "parent_id": self.parent_id,
            "queue_name": self.queue,
            "forked_from": self.forked_from,
            "created": (
                epoch_ms(self.created_after, "created_after"),
                epoch_ms(self.created_before, "created_before"),
            ),
            "completed": (
                epoch_ms(self.completed_after, "completed_after"),
                epoch_ms(self.completed_before, "completed_before"),
            ),
        }
