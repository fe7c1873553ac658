"""What every table of the ``tether`` CLI is made of: a console, tables, times, statuses."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Iterable
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tether.runtime.records import Status

from ..commands.records import jsonable

STATUS_STYLE: dict[str, str] = {
    Status.SUCCESS: "green",
    Status.ERROR: "red",
    Status.RECOVERY_EXHAUSTED: "red",
    Status.CANCELLED: "yellow",
    Status.PARKED: "magenta",
    Status.PENDING: "cyan",
    Status.ENQUEUED: "blue",
}


# -- formatting helpers -----------------------------------------------------------------------


def console() -> Console:
    """A console on the current stdout; piped output is not squeezed to 80 columns."""
    tty = sys.stdout.isatty()
    return Console(
        file=sys.stdout,
        width=None if tty else 200,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=False,
    )


def timestamp(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def age(ms: int | None, now_ms: int | None = None) -> str:
    if ms is None:
        return "-"
    seconds = max(0.0, ((now_ms or int(time.time() * 1000)) - ms) / 1000)
    if seconds < 60:
        return f"{seconds:.1f}s ago"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m ago"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h ago"
    return f"{seconds / 86400:.1f}d ago"


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def short(value: Any, limit: int = 60) -> str:
    """A one-line preview of a stored value."""
    text = value if isinstance(value, str) else json.dumps(jsonable(value))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def table(*columns: str, title: str | None = None) -> Table:
    table = Table(
        box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False, show_edge=False
    )
    for col in columns:
        table.add_column(col, no_wrap=col in ("ID", "WORKFLOW ID", "EXECUTOR"))
    return table


def out(renderable: Any) -> None:
    console().print(renderable)


def key_values(rows: Iterable[tuple[str, Any]]) -> None:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value if isinstance(value, Text) else str(value))
    out(table)


def message(text: str) -> None:
    out(text)
