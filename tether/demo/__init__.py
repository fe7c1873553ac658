"""``tether demo``: agents mid-flight across a versioned deploy on one machine, with nothing
lost, nothing repeated and nothing run on code that cannot run it.

    from tether.demo import Options, run
    report = run(Options(fast=True))      # report.ok: the three invariants hold

The agent (``agent``, served by ``revision``, on the shop of ``tickets``), the traffic and
the human (``driver``), the story (``scenario``, which drives ``app.rollouts`` on a
``LocalPlatform``), the replay verdict (``replaycheck``), the live view (``view`` over the
``journal``), and the report with its invariants (``report``, ``invariants``, read through
``rows``).
"""

from __future__ import annotations

from rich.console import Console
from rich.live import Live

from .journal import Entry, Journal
from .report import Report, render_report
from .scenario import Demo, Options
from .view import render


def run(options: Options, *, console: Console | None = None, live: bool = True) -> Report:
    """Run the demo; with ``live``, show it as it goes (a live view on a terminal, one line
    per event otherwise)."""
    console = console or Console()
    if live and console.is_terminal:
        journal = Journal()
        with Live(console=console, refresh_per_second=4) as view:

            def refresh(state: object) -> None:
                view.update(render(state, journal.entries()))  # type: ignore[arg-type]

            return Demo(options, journal=journal, refresh=refresh).run()

    def echo(e: Entry) -> None:
        console.print(f"{e.at:5.1f}s  {e.text}", highlight=False, soft_wrap=True)

    return Demo(options, journal=Journal(echo if live else None)).run()


__all__ = ["Options", "Report", "render_report", "run"]
