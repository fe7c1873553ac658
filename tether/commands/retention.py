"""Retention: delete finished workflows (and what was recorded for them) now."""

from __future__ import annotations

from ..app import Tether
from ..retention import RetentionReport


def collect_garbage(
    app: Tether,
    *,
    older_than: str | float | None = None,
    keep: int | None = None,
    batch_size: int = 1000,
    max_batches: int | None = None,
    dry_run: bool = False,
) -> RetentionReport:
    """Delete finished workflows older than ``older_than`` (seconds or "30d") or beyond the
    newest ``keep``, in batches; never an open or parked one, a child of an open parent, or
    the origin of an open fork. ``dry_run`` counts what would go."""
    return app.retention.collect(
        max_age=older_than,
        max_workflows=keep,
        batch_size=batch_size,
        max_batches=max_batches,
        dry_run=dry_run,
    )
