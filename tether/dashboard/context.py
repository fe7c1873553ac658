"""What the dashboard and its API serve: the app to administer, and optionally its code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from ..app import Tether
from ..serving import RequestError

T = TypeVar("T")


class Context:
    """``app`` answers every read and action over the database (never launched here);
    ``code``, when the dashboard was given the module defining the app, is what the patch
    report replays open workflows on."""

    def __init__(self, app: Tether, *, code: Tether | None = None) -> None:
        self.app = app
        self.code = code

    def require_code(self) -> Tether:
        if self.code is None:
            raise RequestError(
                409,
                "the patch report replays open workflows on your workflow code: start the "
                "dashboard with --module your.module:app (or serve it from `tether serve`)",
            )
        return self.code

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Commands do blocking database I/O: run them off the event loop."""
        return await run_in_threadpool(fn, *args)
