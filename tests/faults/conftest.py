"""Fault tests run on Postgres only: they terminate real server backends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import FAST, _postgres_url

from .inject import Terminator


@pytest.fixture
def pg_url() -> str:
    return _postgres_url()


@pytest.fixture
def terminator(pg_url: str) -> Iterator[Terminator]:
    t = Terminator(pg_url)
    yield t
    t.close()


@pytest.fixture
def make_pg_app(pg_url: str, app_name: str) -> Iterator[Callable[..., Any]]:
    from tether import Tether

    apps: list[Tether] = []

    def make(**kwargs: Any) -> Tether:
        options = {**FAST, "app_name": app_name, "database_url": pg_url, "version": "v1"}
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
