"""The patch decision table (DESIGN §5), name checks and the source scan, without a database."""

from __future__ import annotations

import re

import pytest
from tether.runtime.errors import ConfigurationError, NotInWorkflowError
from tether.runtime.registry import Registry
from tether.versioning import patch_scan
from tether.versioning.patches import Decision, check_name, decide

import tether

# (recorded kind, recorded name) at the position -> patch(name) / deprecate_patch(name)
ROWS = [
    # nothing recorded: a new run, or an old one not this far
    ((None, None), Decision(True, consume=True, record=True, new_path=True), True, False),
    # the marker of this patch
    (("patch", "fees"), Decision(True, consume=True, record=False, new_path=True), True, True),
    # another operation: the run passed here on code without the patch
    (("step", "charge"), Decision(False, consume=False, record=False, new_path=False), True, False),
    # another patch's marker is another operation too (stacked gates rely on it)
    (("patch", "older"), Decision(False, consume=False, record=False, new_path=False), True, False),
]


@pytest.mark.parametrize(("recorded", "patch_decision", "dep_returns", "dep_consumes"), ROWS)
def test_decision_table(
    recorded: tuple[str | None, str | None],
    patch_decision: Decision,
    dep_returns: bool,
    dep_consumes: bool,
) -> None:
    assert decide(*recorded, "fees", deprecated=False) == patch_decision
    dep = decide(*recorded, "fees", deprecated=True)
    assert (dep.returns, dep.consume, dep.record) == (dep_returns, dep_consumes, False)
    # Over another operation a deprecated gate cannot tell the old path from its own.
    assert dep.new_path == (None if patch_decision.new_path is False else True)


def test_stacked_gates_pick_the_marker_that_is_there() -> None:
    # if patch("v3"): ... elif patch("v2"): ... else: ...  on a history holding v2's marker
    assert decide("patch", "v2", "v3", deprecated=False).returns is False
    assert decide("patch", "v2", "v2", deprecated=False).returns is True


@pytest.mark.parametrize("name", ["fees-v2", "2024.06/refunds", "a", "x_y:z", "_p", "x" * 128])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", " ", "has space", "-lead", "x" * 129, None, 3, "é"])
def test_invalid_names_are_refused_clearly(name: object) -> None:
    message = rf"invalid patch name {re.escape(repr(name))}: use 1-128 characters \(letters, "
    message += r"digits, '_', '\.', ':', '/', '-'\), starting with a letter, digit or '_'"
    with pytest.raises(ConfigurationError, match=message):
        check_name(name)


def test_gates_outside_a_workflow_are_a_clear_error() -> None:
    with pytest.raises(NotInWorkflowError, match=r"tether.patch\(\) must be called from workflow"):
        tether.patch("fees")
    with pytest.raises(NotInWorkflowError, match=r"tether.deprecate_patch\(\) must be called"):
        tether.deprecate_patch("fees")


def test_scan_finds_gates_and_ignores_other_patch_functions() -> None:
    from unittest import mock

    reg = Registry()
    deprecate_patch = tether.deprecate_patch

    def flow() -> None:
        newest = tether.patch("v3")
        middle = tether.patch(name="v2")
        print(newest, middle)
        deprecate_patch("v1")
        with mock.patch("os.getcwd"):  # not a gate
            pass
        tether.patch(f"{flow}")  # not a literal: cannot be known

    reg.add_workflow(flow, name="flow", max_recovery_attempts=1)
    found = patch_scan.scan(reg.workflows.values())
    assert [(d.name, d.kind, d.workflow) for d in found] == [
        ("v3", "patch", "flow"),
        ("v2", "patch", "flow"),
        ("v1", "deprecate_patch", "flow"),
    ]
    assert patch_scan.names(reg.workflows.values()) == ["v1", "v2", "v3"]
