"""The CLI is a shell over ``tether.commands``: its modules reach the store, the versioning
package and the app's managers only through command functions, read no private attribute,
and import no sibling but ``base`` (so they cannot import each other in a cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .test_layering import imported_modules

TETHER = Path(__file__).resolve().parents[2] / "tether"
SHELL = sorted((TETHER / "cli").glob("*.py")) + sorted((TETHER / "render").glob("*.py"))
# What a CLI or render module may import from tether; anything else goes through commands.
ALLOWED = (
    "tether.commands",
    "tether.asgi",  # `tether serve` runs the HTTP surface
    "tether.dashboard",  # `tether dashboard` serves the admin API and pages
    "tether.render",
    "tether.cli.base",
    "tether.runtime.records",  # Status, for choices and colours
    "tether.runtime.errors",  # the root's error handling
    "tether.versioning.patch_report.KEEP",  # verdict and outcome names, for colours
    "tether.versioning.patch_report.SAFE_TO_REMOVE",
    "tether.versioning.replay.DIVERGED",
    "tether.versioning.replay.PASSED",
)


LOWER_PACKAGES = ("tether.versioning.patch_report", "tether.versioning.replay")


def _module(path: Path) -> str:
    parts = path.relative_to(TETHER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("path", SHELL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shell_modules_go_through_the_command_layer(path: Path) -> None:
    module = _module(path)
    source = path.read_text()
    is_package = path.name == "__init__.py"
    found = [m for m in imported_modules(source, module, is_package) if m.startswith("tether")]
    sibling_ok = module in ("tether.cli", "tether.cli.__main__")  # the root assembles them
    bad = [
        m
        for m in found
        if m not in ("tether", "tether.cli", "tether.app", "tether.app.Tether", *LOWER_PACKAGES)
        and not m.startswith(ALLOWED)
        and not (sibling_ok and m.startswith("tether.cli."))
    ]
    assert not bad, f"{module} bypasses tether.commands: {bad}"
    if module != "tether.cli.base":
        assert "tether.app" not in found, f"{module} imports the app: use State.app()"


@pytest.mark.parametrize("path", SHELL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shell_modules_read_no_private_attribute(path: Path) -> None:
    private = [
        f"line {node.lineno}: .{node.attr}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id == "self")
    ]
    assert not private, f"{path.name} reads private attributes: {private}"
