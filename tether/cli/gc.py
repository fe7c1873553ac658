"""``tether gc``: delete finished workflows older than an age or beyond a row budget."""

from __future__ import annotations

import click

from .. import commands
from ..render.base import message
from .base import State, command


def _text(report: commands.RetentionReport) -> None:
    if report.cutoff is None:
        message("nothing to collect: no finished workflow is older than the limits")
        return
    if report.dry_run:
        message(f"would delete {report.deleted:,} finished workflow(s)")
        return
    rate = report.deleted / report.seconds if report.seconds > 0 else 0.0
    more = " (stopped at --max-batches; more remain)" if report.remaining else ""
    message(
        f"deleted {report.deleted:,} finished workflow(s) and {report.deleted_rows:,} recorded "
        f"row(s) in {report.batches} batch(es), {report.seconds:.1f} s "
        f"({rate:,.0f} workflows/s){more}"
    )


@command(
    None,
    "gc",
    click.option("--older-than", metavar="AGE", help="Finished longer ago than AGE (30d, 12h)."),
    click.option("--keep", type=click.IntRange(min=0), help="Keep the newest N finished."),
    click.option(
        "--batch-size",
        type=click.IntRange(1, 100_000),
        default=1000,
        show_default=True,
        help="Workflows deleted per transaction.",
    ),
    click.option("--max-batches", type=click.IntRange(min=1), help="Stop after N batches."),
    click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing."),
)
def gc_cmd(
    state: State,
    older_than: str | None,
    keep: int | None,
    batch_size: int,
    max_batches: int | None,
    dry_run: bool,
) -> None:
    """Delete finished workflows (with their steps, messages and events) older than
    --older-than or beyond the newest --keep; open, parked, a running parent's children and
    open forks' origins are never deleted."""
    if older_than is None and keep is None:
        raise click.UsageError("give --older-than AGE, --keep N or both")
    report = commands.collect_garbage(
        state.app(),
        older_than=older_than,
        keep=keep,
        batch_size=batch_size,
        max_batches=max_batches,
        dry_run=dry_run,
    )
    state.emit(report, _text)
