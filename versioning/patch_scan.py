"""Which patch gates workflow code declares, read from the workflow sources with ``ast``.

A call counts when it names ``patch`` or ``deprecate_patch`` (bare, or as an attribute such
as ``tether.patch``) with a literal name, and the callee resolves, in the function's globals,
to tether's gate (or does not resolve at all): ``unittest.mock.patch("x")`` is not a gate.
Gates called from helper functions outside the workflow's own source are not seen.
"""

from __future__ import annotations

import ast
import dataclasses
import textwrap
from collections.abc import Iterable
from typing import Any

from tether.runtime.registry import WorkflowDef

from . import patches

_GATES = {"patch": patches.patch, "deprecate_patch": patches.deprecate_patch}


@dataclasses.dataclass(frozen=True, slots=True)
class Declared:
    name: str  # the patch name
    kind: str  # "patch" | "deprecate_patch"
    workflow: str  # the workflow whose source calls it


def _callee(node: ast.expr) -> tuple[str, list[str]] | None:
    """(gate name, the dotted path naming it) for ``patch`` / ``x.y.patch`` callees."""
    path: list[str] = []
    while isinstance(node, ast.Attribute):
        path.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    path.insert(0, node.id)
    return (path[-1], path) if path[-1] in _GATES else None


def _resolve(fn: Any, path: list[str]) -> Any:
    names = dict(getattr(fn, "__globals__", {}))
    code, cells = getattr(fn, "__code__", None), getattr(fn, "__closure__", None) or ()
    if code is not None:
        for var, cell in zip(code.co_freevars, cells, strict=False):
            try:
                names[var] = cell.cell_contents
            except ValueError:  # an empty cell
                pass
    obj = names.get(path[0])
    for attr in path[1:]:
        obj = getattr(obj, attr, None)
    return obj


def scan_one(wdef: WorkflowDef) -> list[Declared]:
    try:
        tree = ast.parse(textwrap.dedent(wdef.source))
    except SyntaxError:
        return []
    found: list[tuple[int, int, Declared]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or (callee := _callee(node.func)) is None:
            continue
        kind, path = callee
        arg = (
            node.args[0]
            if node.args
            else next((k.value for k in node.keywords if k.arg == "name"), None)
        )
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            continue
        target = _resolve(wdef.fn, path)
        if target is None or target is _GATES[kind]:
            found.append((node.lineno, node.col_offset, Declared(arg.value, kind, wdef.name)))
    return [d for _, _, d in sorted(found, key=lambda f: f[:2])]


def scan(workflows: Iterable[WorkflowDef]) -> list[Declared]:
    """Every gate the given workflows' sources call, in workflow then source order."""
    return [d for wdef in workflows for d in scan_one(wdef)]


def names(workflows: Iterable[WorkflowDef]) -> list[str]:
    """The distinct patch names declared (for the version registry)."""
    return sorted({d.name for d in scan(workflows)})
