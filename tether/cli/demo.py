"""``tether demo``: agents mid-flight across a versioned deploy, on this machine."""

from __future__ import annotations

import click

from .. import commands
from ..render import demo as show
from .base import State, command


@command(
    None,
    "demo",
    click.option(
        "--database-url",
        "demo_database_url",
        metavar="URL",
        help="Run on this database (e.g. postgresql://...) [default: embedded SQLite in --dir]; "
        "TETHER_DATABASE_URL is not used, so the demo never writes to your app's database.",
    ),
    click.option("--fast", is_flag=True, help="Short bakes and waits (for tests and CI)."),
    click.option(
        "--bad-release",
        is_flag=True,
        help="Deploy a v2 whose new path fails: the gate catches it and the rollout rolls back.",
    ),
    click.option(
        "--dir",
        "directory",
        type=click.Path(file_okay=False),
        help="Where the database, the side-effect log and the process logs go "
        "[default: a new temporary directory].",
    ),
)
def demo_cmd(
    state: State,
    demo_database_url: str | None,
    fast: bool,
    bad_release: bool,
    directory: str | None,
) -> None:
    """Roll a new version of a refund agent out while agents are mid-flight.

    v1 (two processes) serves a stream of agents through a local router; v2 is deployed at
    0 %, replay says whether v2 may run v1's open workflows, and a rollout moves traffic
    10 → 50 → 100 % with health gates while one v1 process is killed. The report checks,
    from the database and the side-effect log, that no workflow was lost, no completed step
    ran twice and none ran on a version that could not run it; it exits 1 if any did.
    Embedded SQLite by default; --database-url runs it on Postgres.
    """
    # Only options given on this command line: an exported TETHER_DATABASE_URL or
    # TETHER_APP_NAME names your own app, which the demo must not write into.
    parent = click.get_current_context().find_root()
    given = click.core.ParameterSource.COMMANDLINE

    def typed(name: str) -> bool:
        return parent.get_parameter_source(name) == given

    report = commands.run_demo(
        database_url=demo_database_url or (state.database_url if typed("database_url") else None),
        app_name=state.app_name if typed("app_name") else None,
        fast=fast,
        bad_release=bad_release,
        directory=directory,
        live=not state.as_json,
    )
    state.emit(report, show.report)
    if not report.ok:
        raise SystemExit(1)
