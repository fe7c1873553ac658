"""Workflow histories as files: export from the database, commit next to tests, replay in CI.

A history file holds what a replay needs and nothing it does not: the workflow's record
(name, version, status, inputs, outcome), its recorded operations in order, and the records
of the child workflows it called (their outcomes answer the parent's child calls). Values
keep tether's tagged JSON encoding, so dates, tuples or dataclasses come back as they were.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tether.runtime import serialization
from tether.runtime.errors import ConfigurationError, WorkflowNotFoundError
from tether.runtime.records import OperationRecord, WorkflowRecord
from tether.runtime.store import Store

FORMAT = 1
CHILD = "child"
_ENCODED = ("inputs", "output")  # WorkflowRecord fields holding decoded values
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclasses.dataclass(frozen=True)
class WorkflowHistory:
    workflow: WorkflowRecord
    operations: tuple[OperationRecord, ...]
    children: Mapping[str, WorkflowRecord] = dataclasses.field(default_factory=dict)
    app_name: str | None = None

    @property
    def workflow_id(self) -> str:
        return self.workflow.workflow_id

    # -- from the database --------------------------------------------------------------------

    @classmethod
    def from_store(cls, store: Store, workflow_id: str) -> WorkflowHistory:
        rec = store.workflows.get(workflow_id)
        if rec is None:
            raise WorkflowNotFoundError(f"no workflow {workflow_id!r} in app {store.app_name!r}")
        return cls.build(store, rec, store.operations.history(workflow_id))

    @classmethod
    def build(
        cls,
        store: Store,
        rec: WorkflowRecord,
        operations: Iterable[OperationRecord],
        children: Mapping[str, WorkflowRecord] | None = None,
    ) -> WorkflowHistory:
        """A history from rows already read; child records are read unless given."""
        ops = tuple(operations)
        if children is None:
            ids = [op.child_id for op in ops if op.kind == CHILD and op.child_id]
            children = {cid: c for cid in ids if (c := store.workflows.get(cid)) is not None}
        return cls(rec, ops, dict(children), store.app_name)

    # -- JSON ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "tether_history": FORMAT,
            "app_name": self.app_name,
            "workflow": _record_to_json(self.workflow),
            "operations": [_op_to_json(op) for op in self.operations],
            "children": {cid: _record_to_json(c) for cid, c in sorted(self.children.items())},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkflowHistory:
        if data.get("tether_history") != FORMAT:
            raise ConfigurationError(
                f"not a tether history (format {data.get('tether_history')!r}, expected "
                f"{FORMAT}): export one with `tether workflows export ID --out DIR`"
            )
        return cls(
            workflow=_record_from_json(data["workflow"]),
            operations=tuple(_op_from_json(op) for op in data.get("operations", [])),
            children={cid: _record_from_json(c) for cid, c in (data.get("children") or {}).items()},
            app_name=data.get("app_name"),
        )

    @classmethod
    def from_json(cls, text: str) -> WorkflowHistory:
        return cls.from_dict(json.loads(text))

    # -- files --------------------------------------------------------------------------------

    def file_name(self) -> str:
        wid = self.workflow_id
        safe = _SAFE.sub("_", wid)[:100]
        if safe != wid:  # keep distinct ids apart after sanitizing
            safe += "-" + hashlib.sha256(wid.encode()).hexdigest()[:8]
        return f"{safe}.json"

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / self.file_name()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path

    @classmethod
    def load(cls, path: str | Path) -> WorkflowHistory:
        try:
            return cls.from_json(Path(path).read_text())
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(f"{path}: not a readable tether history ({exc})") from exc


def load_dir(directory: str | Path, pattern: str = "*.json") -> list[WorkflowHistory]:
    """Every history file in ``directory`` (sorted by file name)."""
    folder = Path(directory)
    if not folder.is_dir():
        raise ConfigurationError(f"{folder} is not a directory of exported histories")
    return [WorkflowHistory.load(p) for p in sorted(folder.glob(pattern))]


def export(store: Store, workflow_ids: Iterable[str], directory: str | Path) -> list[Path]:
    """Write one history file per workflow into ``directory``; returns the paths."""
    return [WorkflowHistory.from_store(store, wid).save(directory) for wid in workflow_ids]


def _record_to_json(rec: WorkflowRecord) -> dict[str, Any]:
    data = rec.to_dict()
    for key in _ENCODED:
        data[key] = json.loads(serialization.dumps(data[key], f"workflow {rec.workflow_id} {key}"))
    return data


def _record_from_json(data: Mapping[str, Any]) -> WorkflowRecord:
    values = dict(data)
    for key in _ENCODED:
        values[key] = serialization.loads(json.dumps(values.get(key)))
    known = {f.name for f in dataclasses.fields(WorkflowRecord)}
    return WorkflowRecord(**{k: v for k, v in values.items() if k in known})


def _op_to_json(op: OperationRecord) -> dict[str, Any]:
    data = op.to_dict()
    for key in ("output", "error"):  # stored JSON text, kept readable in the file
        if data[key] is not None:
            data[key] = json.loads(data[key])
    return data


def _op_from_json(data: Mapping[str, Any]) -> OperationRecord:
    values = dict(data)
    for key in ("output", "error"):
        if values.get(key) is not None:
            values[key] = json.dumps(values[key], separators=(",", ":"))
    known = {f.name for f in dataclasses.fields(OperationRecord)}
    return OperationRecord(**{k: v for k, v in values.items() if k in known})
