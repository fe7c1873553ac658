"""A read-only command pointed at a SQLite file that does not exist says so and how to create
it; it never creates the file (an empty database would read as an empty app). SQLite only:
a Postgres URL names a server, not a file a connection could create."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from tether.cli import cli

READS = [
    ["info"],
    ["executors"],
    ["versions"],
    ["workflows", "list"],
    ["workflows", "get", "w"],
    ["queues"],
    ["routing"],
    ["schedules", "list"],
    ["revisions"],
    ["gc", "--older-than", "1d", "--dry-run"],
]
# Commands that run workflow code: the app comes from --module, with its own database URL.
CODE_READS = [
    ["replay"],
    ["patches"],
    ["info"],
]


@pytest.fixture
def missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path / "absent.db"


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_a_read_does_not_create_a_missing_database(missing: Path, args: list[str]) -> None:
    url = f"sqlite:///{missing}"
    result = CliRunner().invoke(cli, ["--database-url", url, "--app", "a", *args])
    assert not missing.exists()
    if args == ["info"]:  # reports on the database itself: says it is missing
        assert result.exit_code == 0 and "no database file yet" in result.stdout
        return
    assert result.exit_code == 1, result.output
    assert f"no database at {url}" in result.stderr
    assert "create one with `tether migrate`" in result.stderr


@pytest.mark.parametrize("args", CODE_READS, ids=" ".join)
def test_a_read_with_module_code_does_not_create_its_database(
    missing: Path, args: list[str]
) -> None:
    module = f"app_{uuid.uuid4().hex[:8]}"
    (missing.parent / f"{module}.py").write_text(
        "import tether\n"
        f"app = tether.Tether(app_name='a', database_url='sqlite:///{missing}',\n"
        "                     install_signal_handlers=False)\n"
        "@app.workflow()\n"
        "def w() -> int:\n"
        "    return 1\n"
    )
    result = CliRunner().invoke(cli, ["--app", "a", *args, "--module", f"{module}:app"])
    assert not [name for name in os.listdir(missing.parent) if name.endswith(".db")]
    if args == ["info"]:
        assert result.exit_code == 0 and "no database file yet" in result.stdout
        return
    assert result.exit_code == 1, result.output
    assert f"no database at sqlite:///{missing}" in result.stderr
