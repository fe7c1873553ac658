"""The dependency direction runtime <- versioning <- rollout <- tether, checked on the source.

Imports are read with ``ast`` (so ``TYPE_CHECKING`` and function-level imports count too);
relative imports are resolved against the importing module, so ``from .. import versioning``
inside ``runtime/`` is caught like ``import tether.versioning``. The folder names are not
import packages: ``import runtime.engine`` works only from the repository root and would break
an installed package, so it is refused everywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = {
    "runtime": "tether.runtime",
    "versioning": "tether.versioning",
    "rollout": "tether.rollout",
    "tether": "tether",
}
LOWER = ("tether.runtime", "tether.versioning", "tether.rollout")
# The layers each layer may import from; the facade ("tether") may import them all.
ALLOWED = {
    "tether.runtime": {"tether.runtime"},
    "tether.versioning": {"tether.runtime", "tether.versioning"},
    "tether.rollout": {"tether.runtime", "tether.versioning", "tether.rollout"},
    "tether": {*LOWER, "tether"},
}


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _layer(module: str) -> str:
    """The layer a ``tether...`` module belongs to; the facade is whatever is not lower."""
    return next((p for p in LOWER if _within(module, p)), "tether")


def imported_modules(source: str, module: str, is_package: bool) -> list[str]:
    """Absolute names of every module (or ``from`` target) imported by ``source``."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append(target)
            # ``from tether import versioning`` names a subpackage, not an attribute.
            found.extend(f"{target}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    layer = _layer(module)
    bad = []
    for name in imported_modules(source, module, is_package):
        top = name.split(".")[0]
        if top in ("runtime", "versioning", "rollout"):
            bad.append(f"{name} (a folder name: import it as tether.{name})")
        elif top == "tether" and _layer(name) not in ALLOWED[layer]:
            bad.append(f"{name} ({layer} may not import {_layer(name)})")
    return sorted(set(bad))


def _modules() -> list[object]:
    out = []
    for folder, package in LAYERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            module = ".".join([package, *parts])
            out.append(pytest.param(path, module, path.name == "__init__.py", id=module))
    return out


@pytest.mark.parametrize("path,module,is_package", _modules())
def test_module_respects_layering(path: Path, module: str, is_package: bool) -> None:
    bad = violations(path.read_text(), module, is_package)
    assert not bad, f"{path.relative_to(ROOT)} imports across layers: {bad}"


@pytest.mark.parametrize(
    "module,source",
    [
        ("tether.runtime.engine", "import tether.versioning.identity"),
        ("tether.runtime.engine", "from .. import versioning"),
        ("tether.runtime.store.workflows", "from ...rollout import plan"),
        ("tether.runtime.engine", "import tether"),
        ("tether.runtime.engine", "from tether import Tether"),
        ("tether.runtime.engine", "from tether.app import Tether"),
        ("tether.versioning.replay", "from tether.rollout import controller"),
        ("tether.versioning.replay", "from tether import Tether"),
        ("tether.rollout.controller", "from ..app import Tether"),
        ("tether.rollout.controller", "import runtime.engine"),
    ],
)
def test_checker_catches_forbidden_imports(module: str, source: str) -> None:
    assert violations(source, module)


@pytest.mark.parametrize(
    "module,source",
    [
        ("tether.runtime.engine", "from .store import Store\nfrom tether.runtime import errors"),
        ("tether.versioning.replay", "from tether.runtime.engine import Engine\nfrom . import x"),
        ("tether.rollout.controller", "from tether.versioning import identity"),
        ("tether.app", "from tether.rollout import controller\nfrom .config import Settings"),
    ],
)
def test_checker_allows_downward_imports(module: str, source: str) -> None:
    assert violations(source, module) == []
