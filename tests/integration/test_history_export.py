"""Exported histories: export, load, replay; and the replay, export and patches commands."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tether.versioning.history_io import WorkflowHistory, export, load_dir

from tether import Tether
from tether.cli import cli
from tether.testing import assert_replays

from ..replay import shop
from .helpers import wait_until
from .test_replay import build


def test_export_load_replay_round_trip(make_app: Callable[..., Tether], tmp_path: Path) -> None:
    calls: Counter[str] = Counter()
    live = build(make_app, calls).launch()
    live.start_workflow("order", "e1", workflow_id="e1").result(timeout=15)
    live.start_workflow("sleeper", workflow_id="e2")
    wait_until(lambda: len(live.list_steps("e2")) == 2, what="the sleeper")

    paths = export(live.store, ["e1", "e2"], tmp_path)
    assert [p.name for p in paths] == ["e1.json", "e2.json"]
    loaded = {h.workflow_id: h for h in load_dir(tmp_path)}
    e1 = loaded["e1"]
    assert e1.workflow == live.get_workflow("e1")  # inputs and outputs decoded alike
    assert list(e1.operations) == live.list_steps("e1")  # byte for byte
    assert sorted(e1.children) == ["e1-3", "e1-4"]  # the inline and the background child
    assert WorkflowHistory.from_json(e1.to_json()) == e1

    ran = Counter(calls)
    assert [r.outcome for r in assert_replays(build(make_app, calls), tmp_path)] == ["passed"] * 2
    with pytest.raises(AssertionError, match="1 of 2 recorded histories do not replay"):
        assert_replays(build(make_app, calls, version="v2", change="insert"), tmp_path)
    assert calls == ran


def test_odd_workflow_ids_get_distinct_file_names(make_app: Callable[..., Tether]) -> None:
    calls: Counter[str] = Counter()
    live = build(make_app, calls).launch()
    for wid in ("a/b", "a_b"):
        live.start_workflow("child", "x", workflow_id=wid).result(timeout=10)
    names = {WorkflowHistory.from_store(live.store, w).file_name() for w in ("a/b", "a_b")}
    assert len(names) == 2 and "a_b.json" in names


@pytest.fixture
def tether_cli(database_url: str, app_name: str, monkeypatch: pytest.MonkeyPatch) -> Callable:
    """Run the CLI on this test's database; --module imports tests.replay.shop afresh."""

    def run(*args: str, code: int = 0, change: str | None = None) -> Result:
        monkeypatch.delitem(sys.modules, "tests.replay.shop", raising=False)
        env = {
            "TETHER_APP_NAME": app_name,
            "TETHER_DATABASE_URL": database_url,
            "SHOP_CHANGE": change,
            "SHOP_VERSION": None,
            "TETHER_APP_VERSION": None,
        }
        result = CliRunner().invoke(cli, list(args), env=env)
        assert result.exit_code == code, (result.output, result.exception)
        return result

    return run


def test_cli_export_replay_and_patches(
    make_app: Callable[..., Tether], tether_cli: Callable[..., Result], tmp_path: Path
) -> None:
    v1 = shop.make(version="v1", **_settings(make_app)).launch()
    v1.start_workflow("refund_order", "A-1", workflow_id="a1")  # waits for approval
    wait_until(lambda: v1.get_event("a1", "stage", timeout=0), what="a1 to wait")
    v1.shutdown()

    out = tether_cli("workflows", "export", "a1", "--out", str(tmp_path)).output
    assert "exported 1 histories" in out and (tmp_path / "a1.json").exists()

    module = ("--module", "tests.replay.shop:app")
    ok = tether_cli("replay", *module, "--status", "pending").output
    assert "1 of 1 replayed cleanly on version v2" in ok
    bad = tether_cli("replay", *module, code=1, change="deprecated").output
    assert "0 of 1 replayed cleanly" in bad and "diverged" in bad
    assert "step 'fraud_check'" in bad
    data = json.loads(tether_cli("--json", "replay", *module, "--from-dir", str(tmp_path)).output)
    assert [(r["workflow_id"], r["outcome"]) for r in data] == [("a1", "passed")]
    assert data[0]["patches_taken"] == {"fraud-check": False}

    report = tether_cli("patches", *module, "--check").output  # no problem: exit 0
    assert "fraud-check" in report and "keep the gate" in report and "a1" in report
    early_text = tether_cli("patches", *module, "--check", code=1, change="deprecated").output
    assert "1 of 1 open workflows do not replay on version v2" in early_text
    early = tether_cli("--json", "patches", *module, change="deprecated").output
    (p,) = json.loads(early)["patches"]
    assert (p["name"], p["open_old_path"], p["verdict"]) == ("fraud-check", 1, "keep")
    tether_cli("replay", code=1)  # without the code: a clear error


def _settings(make_app: Callable[..., Tether]) -> dict[str, object]:
    """The test's database, app name and fast timings (taken from a throwaway app)."""
    probe = make_app()
    s = probe.settings
    return {
        "app_name": s.app_name,
        "database_url": s.database_url,
        "lease_timeout": s.lease_timeout,
        "heartbeat_interval": s.heartbeat_interval,
        "recovery_interval": s.recovery_interval,
        "poll_interval": s.poll_interval,
    }
