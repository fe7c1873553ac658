"""``tether demo``: run the versioned-deploy demo and return its report.

The demo's package is imported on use only: it brings the local platform and the live view,
which no other command needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import RenderableType

    from ..demo.report import Report


def run_demo(
    *,
    database_url: str | None = None,
    app_name: str | None = None,
    fast: bool = False,
    bad_release: bool = False,
    directory: str | Path | None = None,
    live: bool = True,
) -> Report:
    """Run the demo (a live view on the terminal when ``live``); the report says whether the
    three invariants held."""
    from ..demo import Options, run

    options = Options(
        database_url=database_url,
        app_name=app_name,
        fast=fast,
        bad_release=bad_release,
        dir=Path(directory) if directory else None,
    )
    return run(options, live=live)


def demo_report(report: Report) -> RenderableType:
    """The report as the terminal shows it."""
    from ..demo.report import render_report

    return render_report(report)
