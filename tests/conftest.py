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

import faulthandler
import functools
import io
import os
import sys
import threading
import time
import traceback
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
    # Every app is shut down and closed even if one fails; then the failures fail the test
    # (a shutdown that raises is a bug the test would otherwise hide).
    errors: list[str] = []
    for n, app in enumerate(apps):
        for what, close in (
            ("shutdown()", functools.partial(app.shutdown, grace=0.5)),
            ("store.close()", app.store.close),
        ):
            try:
                close()
            except Exception as exc:  # noqa: BLE001 - reported below, after the others
                errors.append(f"app #{n} {what}: {exc!r}")
    if errors:
        pytest.fail("teardown failed:\n" + "\n".join(errors), pytrace=False)


# -- exiting with threads still blocked ------------------------------------------------------
#
# Workflow threads run in a ThreadPoolExecutor. At interpreter exit, concurrent.futures joins
# every pool thread (threading._register_atexit), so a test that fails while a workflow
# thread is blocked (a step waiting on an event that the failed test never sets) would keep
# pytest from ever exiting after printing its summary. Once the session is over, such
# threads are reported with their stacks and the process ends with pytest's exit status.

_EXIT_STATUS: list[int] = []
_LINGER = 5.0  # seconds given to threads still finishing after the last teardown


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    def stuck() -> list[threading.Thread]:
        return [
            t
            for t in threading.enumerate()
            if t is not threading.main_thread() and t.is_alive() and not t.daemon
        ]

    deadline = time.monotonic() + _LINGER
    for thread in stuck():
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    left = stuck()
    if not left or not _EXIT_STATUS:
        return
    status = _EXIT_STATUS[-1] or 1  # a thread left blocked is itself a failure
    names = ", ".join(t.name for t in left)
    sys.stderr.write(f"\n{len(left)} thread(s) still blocked at exit ({names}); stacks:\n")
    try:
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    except (AttributeError, ValueError, io.UnsupportedOperation):  # stderr is not a file
        frames = sys._current_frames()
        for t in left:
            frame = frames.get(t.ident or -1)
            stack = "".join(traceback.format_stack(frame)) if frame else "(no frame)\n"
            sys.stderr.write(f"Thread {t.name}:\n{stack}")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
