"""``--platform local`` from the CLI: the platform is built on the app's database and name,
and a command whose process ends (so would the local revisions it supervises) says so before
it writes anything."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner
from tether.rollout.local import LocalPlatform
from tether.runtime.store.rollouts import RolloutStore

from tether import Tether
from tether.cli import cli
from tether.commands import rollouts as cmd


def test_the_local_platform_runs_on_the_apps_database(
    make_app: Callable[..., Tether], tmp_path: Path
) -> None:
    app = make_app()
    platform = cmd.platform_from_options(
        "local", app=app, service="ignored", options=[f"workdir={tmp_path}"]
    )
    try:
        assert isinstance(platform, LocalPlatform)
        assert (platform.database_url, platform.app_name) == (
            app.settings.database_url,
            app.app_name,
        )
        assert platform.workdir == tmp_path
    finally:
        platform.close()  # type: ignore[attr-defined]


def test_a_rollout_on_the_local_platform_is_refused_from_the_cli(
    database_url: str, app_name: str, make_app: Callable[..., Tether], tmp_path: Path
) -> None:
    make_app().launch().set_current_version("v1")
    for command in (["rollout", "start", "v2"], ["revisions"]):
        result = CliRunner().invoke(
            cli,
            ["--database-url", database_url, "--app", app_name, *command, "--platform", "local"]
            + ["--platform-option", f"workdir={tmp_path}"],
        )
        assert result.exit_code == 1, (result.output, result.exception)
        assert "LocalPlatform lives only in the process that deployed" in result.output
        assert "app.rollouts.start(platform, ...)" in result.output
    app = make_app()
    assert RolloutStore(app.store.db, app.app_name).list() == []
