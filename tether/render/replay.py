"""Replay outcomes and the patch report as tables, and the replay progress bar."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from tether.versioning.patch_report import KEEP, SAFE_TO_REMOVE
from tether.versioning.replay import DIVERGED, PASSED

from ..commands import PatchReport, ReplayRun
from .base import message, out, short, status_text, table

_STYLE = {PASSED: "green", DIVERGED: "red", "error": "yellow"}


def progress(quiet: bool) -> Progress:
    """A transient bar on stderr (silent with ``quiet``), so stdout keeps only the result."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True, quiet=quiet),
        transient=True,
    )


def replayed(run: ReplayRun) -> None:
    results = run.results
    if not results:
        message("nothing to replay")
        return
    by_version: dict[str, Counter[str]] = {}
    for r in results:
        by_version.setdefault(r.version, Counter())[r.outcome] += 1
    grid = table("RECORDED BY VERSION", "PASSED", "DIVERGED", "ERROR", "TOTAL")
    for version, counts in sorted(by_version.items()):
        grid.add_row(
            version,
            Text(str(counts[PASSED]), style="green" if counts[PASSED] else ""),
            Text(str(counts[DIVERGED]), style="red" if counts[DIVERGED] else ""),
            Text(str(counts["error"]), style="yellow" if counts["error"] else ""),
            str(sum(counts.values())),
        )
    out(grid)
    failed = [r for r in results if not r.passed]
    if failed:
        detail = table("WORKFLOW ID", "VERSION", "STATUS", "OUTCOME", "WHERE", "WHY")
        for r in failed:
            d = r.divergence
            where = str(d.position) if d else "-"
            why = (
                f"recorded {d.recorded}, code asked for {d.requested}"
                + (f" (nearest patch {d.nearest_patch!r})" if d.nearest_patch else "")
                if d
                else (r.error or "")
            )
            detail.add_row(
                r.workflow_id,
                r.version,
                status_text(r.status or "-"),
                Text(r.outcome, style=_STYLE[r.outcome]),
                where,
                short(why, 120),
            )
        out(detail)
        first = next((r for r in failed if r.divergence is not None), None)
        if first is not None:
            message(f"\nfirst divergence in full:\n{first.divergence}")
    passed = len(results) - len(failed)
    message(
        f"{passed} of {len(results)} replayed cleanly on version {run.code_version}"
        + (f"; {len(failed)} did not" if failed else "")
    )


def patches(report: PatchReport) -> None:
    if not report.patches:
        message("no patch gates in this code, the version registry or history")
        return
    grid = table(
        "PATCH", "IN CODE", "OLD PATH", "NEW PATH", "UNKNOWN", "AT RISK", "MARKERS", "NEXT STEP"
    )
    for p in report.patches:
        style = "yellow" if p.verdict == KEEP else "green"
        if p.problem:
            style = "red"
        grid.add_row(
            p.name,
            p.in_code or "(removed)",
            str(p.open_old_path),
            str(p.open_new_path),
            str(p.open_unknown),
            str(p.open_at_risk),
            f"{p.markers} ({p.open_markers} open)",
            Text(p.action, style=style),
        )
    out(grid)
    for p in report.patches:
        line = f"{p.name}: {p.next_step}"
        if p.old_path_ids:
            line += f" (e.g. {', '.join(p.old_path_ids[:3])})"
        message(line)
        if p.problem:
            out(Text(f"  problem: {p.problem}", style="red"))
    if report.not_replaying:
        out(
            Text(
                f"{len(report.not_replaying)} of {report.open_replayed} open workflows do not "
                f"replay on version {report.code_version}: `tether replay --status PENDING "
                "--status PARKED` explains why",
                style="yellow",
            )
        )
    safe = sum(p.verdict == SAFE_TO_REMOVE for p in report.patches)
    message(f"{len(report.patches)} patch(es); {safe} safe to remove")
