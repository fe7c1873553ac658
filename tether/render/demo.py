"""``tether demo``'s final report."""

from __future__ import annotations

from typing import Any

from .. import commands
from .base import out


def report(result: Any) -> None:
    out(commands.demo_report(result))
