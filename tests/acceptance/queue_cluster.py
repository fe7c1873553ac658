"""Queue workers (``worker.py --queue``) on the test's database, and what they did."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tether.runtime.store.schema import workflows as W

from tether import Client

from .cluster import Cluster


class QueueCluster(Cluster):
    def __init__(self, database_url: str, app_name: str, tmp_path: Path) -> None:
        super().__init__(database_url, app_name, tmp_path)
        self.client = Client(database_url, app_name)

    def spawn(self, executor_id: str, *, version: str = "v1", **options: Any) -> subprocess.Popen:
        return super().spawn(executor_id, version=version, queue=True, **options)

    def running(self) -> dict[str, int]:
        """PENDING workflows of queue ``q`` per holder, as the database says now."""
        with self.observer.store.db.read() as conn:
            rows = conn.execute(
                select(W.c.executor_id, func.count())
                .where(W.c.app_name == self.app_name, W.c.queue_name == "q")
                .where(W.c.status == "PENDING")
                .group_by(W.c.executor_id)
            ).all()
        return {r[0]: int(r[1]) for r in rows}

    def close(self) -> None:
        super().close()
        self.client.close()


@pytest.fixture
def queue_cluster(database_url: str, app_name: str, tmp_path: Path) -> Iterator[QueueCluster]:
    c = QueueCluster(database_url, app_name, tmp_path)
    try:
        yield c
    finally:
        c.close()
