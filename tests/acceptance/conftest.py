"""The ``cluster`` fixture: worker processes on this test's database, killed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import Cluster


@pytest.fixture
def cluster(database_url: str, app_name: str, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(database_url, app_name, tmp_path)
    try:
        yield c
    finally:
        c.close()
