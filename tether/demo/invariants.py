"""The demo's three invariants, checked over rows (pure; no I/O).

The rows come from the database (workflows, recorded operations, executors) and from the
side-effect log that the agents' steps append to (the outside world's own record):

- **lost**: every request the driver made is a workflow that finished (succeeded or failed);
- **repeated**: no step ran again after its result was checkpointed. Each effect line has a
  token that its step returns, so the checkpoint names the run that counts; a line for the
  same step after that one is a completed step run twice. (A line *before* it is a run cut
  off by a crash before its checkpoint: at-least-once for the unfinished step, allowed.)
- **wrong version**: every operation and every effect of a workflow was made by an executor
  that may run the workflow's version (its own, or one it declares compatible).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FINISHED = ("SUCCESS", "ERROR", "CANCELLED", "RECOVERY_EXHAUSTED")
LOST, REPEATED, WRONG_VERSION = "lost", "repeated", "wrong version"
INVARIANTS = (LOST, REPEATED, WRONG_VERSION)


@dataclass(frozen=True)
class WorkflowRow:
    workflow_id: str
    status: str
    version: str
    output: Any = None


@dataclass(frozen=True)
class OperationRow:
    workflow_id: str
    position: int
    kind: str
    name: str
    output: str | None  # JSON text, as stored
    version: str | None  # the version of the executor that recorded it
    executor_id: str | None


@dataclass(frozen=True)
class Effect:
    """One line of the side-effect log, in the order the log holds them."""

    workflow_id: str
    step: str
    token: str
    executor: str
    version: str


@dataclass(frozen=True)
class Violation:
    invariant: str
    workflow_id: str
    detail: str


def lost(requested: Iterable[str], workflows: Mapping[str, WorkflowRow]) -> list[Violation]:
    out = []
    for wid in sorted(set(requested)):
        row = workflows.get(wid)
        if row is None:
            out.append(Violation(LOST, wid, "requested, but no workflow exists"))
        elif row.status not in FINISHED:
            out.append(Violation(LOST, wid, f"still {row.status} on {row.version}"))
    return out


def checkpointed_tokens(operations: Iterable[OperationRow]) -> dict[tuple[str, str], str]:
    """(workflow, step) → the token its checkpointed result carries."""
    out = {}
    for op in operations:
        if op.kind != "step" or not op.output:
            continue
        try:
            value = json.loads(op.output)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("token"), str):
            out[(op.workflow_id, op.name)] = value["token"]
    return out


def repeated(effects: Sequence[Effect], operations: Iterable[OperationRow]) -> list[Violation]:
    tokens = checkpointed_tokens(operations)
    lines: dict[tuple[str, str], list[Effect]] = defaultdict(list)
    for e in effects:
        lines[(e.workflow_id, e.step)].append(e)
    out = []
    for (wid, step), token in sorted(tokens.items()):
        runs = lines.get((wid, step), [])
        index = next((i for i, e in enumerate(runs) if e.token == token), None)
        if index is None:
            out.append(Violation(REPEATED, wid, f"step {step!r} is checkpointed but never ran"))
            continue
        for again in runs[index + 1 :]:
            out.append(
                Violation(
                    REPEATED,
                    wid,
                    f"step {step!r} ran again on {again.executor} after its result "
                    f"was checkpointed",
                )
            )
    return out


def reruns(effects: Sequence[Effect], operations: Iterable[OperationRow]) -> int:
    """Runs of steps cut off by a crash before their checkpoint, then run again (allowed
    for a step that had not completed; reported)."""
    tokens = checkpointed_tokens(operations)
    count = 0
    seen: dict[tuple[str, str], int] = defaultdict(int)
    done: set[tuple[str, str]] = set()
    for e in effects:
        key = (e.workflow_id, e.step)
        if key in done:
            continue
        if tokens.get(key) == e.token:
            count += seen[key]
            done.add(key)
        else:
            seen[key] += 1
    return count


def wrong_version(
    effects: Iterable[Effect],
    operations: Iterable[OperationRow],
    workflows: Mapping[str, WorkflowRow],
    runnable: Mapping[str, frozenset[str]],
) -> list[Violation]:
    """``runnable``: an executor's version → the versions its executors may run."""

    def may(version: str | None, wf_version: str) -> bool:
        return version == wf_version or wf_version in runnable.get(version or "", frozenset())

    out = []
    for op in operations:
        wf = workflows.get(op.workflow_id)
        if wf is not None and not may(op.version, wf.version):
            out.append(
                Violation(
                    WRONG_VERSION,
                    op.workflow_id,
                    f"{op.kind} {op.name!r} at position {op.position} of a {wf.version} "
                    f"workflow was recorded by {op.executor_id} running {op.version}",
                )
            )
    for e in effects:
        wf = workflows.get(e.workflow_id)
        if wf is not None and not may(e.version, wf.version):
            out.append(
                Violation(
                    WRONG_VERSION,
                    e.workflow_id,
                    f"step {e.step!r} of a {wf.version} workflow ran on {e.executor} "
                    f"running {e.version}",
                )
            )
    return out


@dataclass(frozen=True)
class Verdict:
    violations: Mapping[str, Sequence[Violation]]

    @property
    def ok(self) -> bool:
        return not any(self.violations.values())


def check(
    requested: Iterable[str],
    workflows: Mapping[str, WorkflowRow],
    operations: Sequence[OperationRow],
    effects: Sequence[Effect],
    runnable: Mapping[str, frozenset[str]],
) -> Verdict:
    return Verdict(
        {
            LOST: lost(requested, workflows),
            REPEATED: repeated(effects, operations),
            WRONG_VERSION: wrong_version(effects, operations, workflows, runnable),
        }
    )
