"""Committed histories of past releases replay on the current code (tether.testing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tether.cli import cli
from tether.testing import assert_replays, replay_histories

from . import shop

HISTORIES = Path(__file__).parent / "histories"


def test_current_code_replays_every_committed_history() -> None:
    results = {r.workflow_id: r for r in assert_replays(shop.make(), HISTORIES)}
    assert sorted(results) == ["v1-A-1", "v1-A-2", "v2-B-1", "v2-B-2-x", "v2-B-3"]
    assert results["v1-A-1"].patches_taken == {"fraud-check": False}  # the v1 path
    assert results["v2-B-1"].patches_taken == {"fraud-check": True}
    assert results["v1-A-1"].stopped_at is None  # finished runs replay to their end
    assert results["v2-B-3"].stopped_at == 5  # waits for approval after set_event


def test_deprecating_too_early_fails_with_the_diagnostics() -> None:
    with pytest.raises(AssertionError) as info:
        assert_replays(shop.make(change="deprecated"), HISTORIES)
    text = str(info.value)
    assert text.startswith("2 of 5 recorded histories do not replay on this code:")
    assert "v1-A-1 (refund_order, version v1, SUCCESS): diverged at position 1" in text
    assert "recorded set_event 'stage', the code asked for step 'fraud_check'" in text
    assert "nearest patch gate: 'fraud-check'" in text
    assert "history written by version 'v1', this code is version 'v2'" in text
    assert "1  set_event 'stage' [v1]  <-- code asked for step 'fraud_check'" in text
    assert "deprecate_patch('fraud-check') -> True, position not taken" in text


def test_removing_the_gate_breaks_the_runs_that_carry_its_marker() -> None:
    results = replay_histories(shop.make(change="removed"), HISTORIES)
    diverged = {r.workflow_id: r.divergence for r in results if r.divergence}
    assert sorted(diverged) == sorted(r.workflow_id for r in results)
    marked = diverged["v2-B-1"]
    assert marked is not None and marked.recorded == "patch 'fraud-check'"


@pytest.mark.parametrize(("change", "code"), [(None, 0), ("deprecated", 1)])
def test_replay_command_on_exported_files(
    monkeypatch: pytest.MonkeyPatch, change: str | None, code: int
) -> None:
    monkeypatch.delitem(__import__("sys").modules, "tests.replay.shop", raising=False)
    env = {"SHOP_CHANGE": change, "TETHER_APP_NAME": "shop"}
    args = ["replay", "--module", "tests.replay.shop:app", "--from-dir", str(HISTORIES)]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == code, result.output
    assert f"{5 - 2 * code} of 5 replayed cleanly on version v2" in result.output
    if code:
        assert "first divergence in full" in result.output
