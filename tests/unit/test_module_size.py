"""Modules stay readable: none of the library's source files may grow past 800 lines."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 800
FILES = sorted(
    p
    for folder in ("runtime", "versioning", "rollout", "tether")
    for p in (ROOT / folder).rglob("*.py")
)


def test_the_library_has_source_files() -> None:
    assert len(FILES) > 10


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_is_at_most_800_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= LIMIT, f"{path.relative_to(ROOT)} has {lines} lines (limit {LIMIT}): split it"
