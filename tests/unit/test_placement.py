"""Which version new work by name goes to, and names no version declares (tables)."""

from __future__ import annotations

import pytest
from tether.runtime.placement import Candidate, name_problem, newer_declared, version_for


def v(name: str, workflows: set[str] | None, *, live: bool = True, retired: bool = False,
      first: int = 0) -> Candidate:  # fmt: skip
    names = None if workflows is None else frozenset(workflows)
    return Candidate(name, names, live, retired, first)


V1 = v("v1", {"job"}, first=1)
V2 = v("v2", {"job", "nightly"}, first=2)
V3 = v("v3", {"job", "nightly"}, first=3)


@pytest.mark.parametrize(
    ("name", "current", "candidates", "expected"),
    [
        ("job", "v1", [V1, V2], "v1"),  # current declares it
        ("nightly", "v1", [V1, V2], "v2"),  # a canary's new workflow: the version that has it
        ("nightly", "v1", [V1, V2, V3], "v3"),  # the newest live one
        ("nightly", "v1", [V1, V2, v("v3", {"nightly"}, live=False, first=3)], "v2"),
        ("nightly", "v1", [V1, v("v2", {"nightly"}, live=False, first=2)], "v2"),  # waits
        ("nightly", "v1", [V1, v("v2", {"nightly"}, retired=True, first=2)], None),
        ("missing", "v1", [V1, V2], None),  # never one that cannot run it
        ("nightly", "v0", [v("v0", None), V2], "v0"),  # declarations unknown: trusted
        ("nightly", "vx", [V1, V2], "vx"),  # current not registered: trusted
        ("job", None, [V1], "v1"),  # no current yet: a version that declares it
    ],
)
def test_version_for(
    name: str, current: str | None, candidates: list[Candidate], expected: str | None
) -> None:
    assert version_for(name, current, candidates) == expected


@pytest.mark.parametrize(
    ("name", "known", "problem"),
    [
        ("app.expense_agent", {"app.expense_agent"}, None),
        ("expense_agent", {"app.expense_agent"}, "did you mean 'app.expense_agent'?"),
        ("expnse", {"expense"}, "did you mean 'expense'?"),
        ("zzz", {"expense"}, "declared: expense"),
        ("zzz", None, None),  # some version's declarations are unknown
        ("zzz", set(), None),  # nothing registered yet
    ],
)
def test_name_problem(name: str, known: set[str] | None, problem: str | None) -> None:
    got = name_problem(name, known, "app")
    assert (got is None) == (problem is None)
    if problem is not None:
        assert got is not None and problem in got


def test_newer_declared() -> None:
    assert newer_declared([V1, V2], "v1") == {"job", "nightly"}
    assert newer_declared([V1, V2], "v2") == set()
    assert newer_declared([V1, v("v2", {"x"}, retired=True, first=2)], "v1") == set()
