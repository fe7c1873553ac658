"""The demo's final report: per version what started, finished and which path it took, the
recoveries, and the three invariants — all read from the database and the side-effect log,
never from what the demo printed along the way."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tether.runtime.records import Status
from tether.runtime.store import Store, redact

from . import rows
from .agent import GATE
from .invariants import INVARIANTS, Verdict, WorkflowRow, check, reruns
from .journal import Journal


@dataclass(frozen=True)
class VersionLine:
    version: str
    started: int
    succeeded: int
    failed: int
    open: int
    paths: dict[str, int]


@dataclass(frozen=True)
class Report:
    outcome: str
    reason: str | None
    versions: tuple[VersionLine, ...]
    requested: int
    recovered: tuple[str, ...]  # workflows a killed process had begun, finished by another
    reruns: int  # step runs cut off by the kill and run again (they had not completed)
    approvals: tuple[int, int]  # approved, denied
    verdict: Verdict
    app_name: str
    database_url: str  # credentials redacted
    directory: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """The invariants held and the rollout ended, promoted or rolled back (a bad release
        caught and rolled back is the demo working)."""
        return self.verdict.ok and self.outcome in ("promoted", "rolled_back")

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (``tether demo --json``)."""
        return {
            "ok": self.ok,
            "outcome": self.outcome,
            "reason": self.reason,
            "app_name": self.app_name,
            "database_url": self.database_url,
            "directory": self.directory,
            "requested": self.requested,
            "versions": [asdict(v) for v in self.versions],
            "recovered": list(self.recovered),
            "reruns": self.reruns,
            "approvals": {"approved": self.approvals[0], "denied": self.approvals[1]},
            "violations": {
                name: [asdict(v) for v in found] for name, found in self.verdict.violations.items()
            },
            "notes": list(self.notes),
        }


def build_report(
    store: Store,
    effects_path: Path,
    *,
    requested: Sequence[str],
    outcome: tuple[str, str | None],
    killed: Sequence[str],
    taken_over: Sequence[str] = (),
    journal: Journal,
    approvals: Sequence[tuple[str, bool]],
) -> Report:
    workflows = rows.workflows(store)
    operations = rows.operations(store)
    lines = rows.effect_lines(effects_path)
    effects = rows.effects(lines)
    verdict = check(requested, workflows, operations, effects, rows.runnable(store))
    touched: dict[str, set[str]] = {}
    for op in operations:
        touched.setdefault(op.workflow_id, set()).add(op.executor_id or "")
    for e in effects:
        touched.setdefault(e.workflow_id, set()).add(e.executor)
    # Begun by a killed process and continued by another: from the rows, plus those the
    # scenario saw taken over before the killed process had recorded anything.
    recovered = tuple(
        sorted(
            {
                wid
                for wid, who in touched.items()
                if who & set(killed) and who - set(killed) and wid in workflows
            }
            | set(taken_over)
        )
    )
    screened = {op.workflow_id for op in operations if op.name == GATE}
    versions = []
    for version in sorted({w.version for w in workflows.values()}):
        mine = [w for w in workflows.values() if w.version == version]
        paths = Counter(path_of(w, screened) for w in mine if w.status in ("SUCCESS", "ERROR"))
        versions.append(
            VersionLine(
                version,
                started=len(mine),
                succeeded=sum(w.status == "SUCCESS" for w in mine),
                failed=sum(w.status == "ERROR" for w in mine),
                open=sum(w.status in Status.OPEN for w in mine),
                paths=dict(sorted(paths.items())),
            )
        )
    return Report(
        outcome=outcome[0],
        reason=outcome[1],
        versions=tuple(versions),
        requested=len(set(requested)),
        recovered=recovered,
        reruns=reruns(effects, operations),
        approvals=(sum(a for _, a in approvals), sum(not a for _, a in approvals)),
        verdict=verdict,
        app_name=store.app_name,
        database_url=redact(store.db.url),
        directory=str(effects_path.parent),
        notes=tuple(e.text for e in journal.entries() if e.kind in ("replay", "drain")),
    )


def path_of(w: WorkflowRow, gated: set[str]) -> str:
    """The path a finished workflow took: its output says; a failed one's history does."""
    if isinstance(w.output, dict) and "path" in w.output:
        return str(w.output["path"])
    return ("screened" if w.workflow_id in gated else "classic") + " (failed)"


def render_report(report: Report) -> RenderableType:
    table = Table(title="workflows per version", title_justify="left")
    for col in ("version", "started", "succeeded", "failed", "open", "path taken"):
        table.add_column(col, justify="left" if col in ("version", "path taken") else "right")
    for v in report.versions:
        paths = ", ".join(f"{p} {n}" for p, n in v.paths.items()) or "-"
        table.add_row(
            v.version, str(v.started), str(v.succeeded), str(v.failed), str(v.open), paths
        )
    color = {"promoted": "green", "rolled_back": "yellow"}.get(report.outcome, "red")
    head = Text.assemble(("outcome: ", "bold"), (report.outcome, f"bold {color}"))
    if report.reason:
        head.append(f" — {report.reason}")
    facts = Text()
    approved, denied = report.approvals
    facts.append(f"{report.requested} refund requests; {approved} approved and {denied} denied ")
    facts.append("by a human\n")
    facts.append(
        f"{len(report.recovered)} workflow(s) of the killed process finished by another v1 "
        f"process; {report.reruns} step run(s) cut off by the kill before their checkpoint "
        "ran again\n"
    )
    for note in report.notes:
        facts.append(f"{note}\n", style="dim")
    checks = Text()
    labels = {
        "lost": "workflows lost",
        "repeated": "completed steps repeated",
        "wrong version": "run on a version that could not run them",
    }
    for name in INVARIANTS:
        found = report.verdict.violations[name]
        mark, style = ("✓", "green") if not found else ("✗", "bold red")
        checks.append(f"{mark} {len(found)} {labels[name]}\n", style=style)
        for bad in list(found)[:5]:
            checks.append(f"    {bad.workflow_id}: {bad.detail}\n", style="red")
    checks.append(
        f"the side-effect log and the processes' logs are in {report.directory}; look around "
        f"with tether --app {report.app_name} --database-url {report.database_url} "
        "rollout status (or versions, workflows list)",
        style="dim",
    )
    return Group(head, table, facts, checks)
