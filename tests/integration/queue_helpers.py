"""A queued test app whose one workflow records, outside the framework, when it ran where."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from tether import Queue, Tether


class Recorder:
    """Start/end of every run (in this process) and the peak concurrency, overall and by key."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.order: list[Any] = []
        self.running: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.started: dict[Any, float] = {}

    def begin(self, item: Any, key: str) -> None:
        with self.lock:
            self.order.append(item)
            self.started[item] = time.time()
            for k in ("*", key):
                self.running[k] += 1
                self.peak[k] = max(self.peak[k], self.running[k])

    def end(self, key: str) -> None:
        with self.lock:
            for k in ("*", key):
                self.running[k] -= 1


def queued_app(
    make_app: Callable[..., Tether],
    rec: Recorder,
    *,
    version: str = "v1",
    launch: bool = True,
    app_options: dict[str, Any] | None = None,
    **queue_options: Any,
) -> tuple[Tether, Queue]:
    """An app with queue ``q`` and workflow ``job(item, hold=0, key="")``."""
    app = make_app(version=version, **(app_options or {}))
    q = app.queue("q", **queue_options)

    @app.step()
    def work(item: Any, hold: float, key: str) -> Any:
        rec.begin(item, key)
        try:
            time.sleep(hold)
        finally:
            rec.end(key)
        return item

    @app.workflow(name="job")
    def job(item: Any, hold: float = 0.0, key: str = "") -> Any:
        return work(item, hold, key)

    if launch:
        app.launch()
    return app, q
