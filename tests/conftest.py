"""Shared fixtures: every integration test runs on SQLite and, when configured, Postgres.

- ``database_url`` is parametrized ``["sqlite", "postgres"]``. SQLite gets a fresh file per
  test. Postgres uses ``TETHER_TEST_DATABASE_URL`` (skipped when unset, unless
  ``TETHER_REQUIRE_POSTGRES=1``, which turns the skip into a failure: CI sets it).
- Tests isolate themselves on a shared Postgres database by a unique ``app_name``: every
  tether table and query is scoped by app name, so no per-test database is needed.
- ``make_app`` builds apps with fast timings (the test registers workflows, then calls
  ``launch()``) and shuts them down after the test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tether import Tether

PG_URL = os.environ.get("TETHER_TEST_DATABASE_URL")
REQUIRE_PG = os.environ.get("TETHER_REQUIRE_POSTGRES") == "1"


def _postgres_url() -> str:
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("TETHER_REQUIRE_POSTGRES=1 but TETHER_TEST_DATABASE_URL is not set")
        pytest.skip("set TETHER_TEST_DATABASE_URL to run the Postgres tests")
    return PG_URL


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Any) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'tether.db'}"
    return _postgres_url()


@pytest.fixture
def app_name() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


FAST = {
    "lease_timeout": 2.0,
    "heartbeat_interval": 0.3,
    "recovery_interval": 0.1,
    "poll_interval": 0.05,
    "shutdown_grace": 2.0,
    "install_signal_handlers": False,
}


@pytest.fixture
def make_app(database_url: str, app_name: str) -> Iterator[Callable[..., Tether]]:
    """Create apps on this test's database/app name; they are shut down afterwards."""
    apps: list[Tether] = []

    def make(**kwargs: Any) -> Tether:
        options = {**FAST, "app_name": app_name, "database_url": database_url, "version": "v1"}
        options.update(kwargs)
        app = Tether(**options)
        apps.append(app)
        return app

    yield make
    for app in apps:
        try:
            app.shutdown(grace=0.5)
        except Exception:  # noqa: BLE001 - best effort cleanup
            pass
        app.store.close()
