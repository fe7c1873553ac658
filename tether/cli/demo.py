"""``tether demo``: agents mid-flight across a versioned deploy, on this machine."""

from __future__ import annotations

import click

from .. import commands
from ..render import demo as show
from .base import State, command


@command(
    None,
    "demo",
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
def demo_cmd(state: State, fast: bool, bad_release: bool, directory: str | None) -> None:
    """Roll a new version of a refund agent out while agents are mid-flight.

    v1 (two processes) serves a stream of agents through a local router; v2 is deployed at
    0 %, replay says whether v2 may run v1's open workflows, and a rollout moves traffic
    10 → 50 → 100 % with health gates while one v1 process is killed. The report checks,
    from the database and the side-effect log, that no workflow was lost, no completed step
    ran twice and none ran on a version that could not run it; it exits 1 if any did.
    Embedded SQLite by default; --database-url runs it on Postgres.
    """
    report = commands.run_demo(
        database_url=state.database_url,
        fast=fast,
        bad_release=bad_release,
        directory=directory,
        live=not state.as_json,
    )
    state.emit(report, show.report)
    if not report.ok:
        raise SystemExit(1)
