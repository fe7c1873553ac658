"""Connection faults: which errors a retry on a fresh connection fixes, and how long to try.

A managed Postgres drops connections every week (failover, idle reaping, a pooler restart).
Every write tether makes is safe to repeat: checkpoints and finishes are fenced and
idempotent (a repeated checkpoint finds its own row), starts insert-if-absent, claims
compare-and-set the lease. So a write or read that failed because its *connection* broke is
retried on a fresh connection with bounded, jittered backoff, up to a deadline; only after
the deadline does the caller see :class:`~runtime.errors.DatabaseUnavailableError`. An
application error (a constraint, a bad value, SQL that is wrong) is never retried.

:func:`is_transient` and :func:`next_delay` are pure decisions (table-tested);
:func:`retrying` is the thin wrapper that carries them out.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import DatabaseUnavailableError

log = logging.getLogger("tether.store")
T = TypeVar("T")

# SQLSTATE classes and codes that mean "the connection or the server went away", not "your
# statement is wrong": 08 connection exception, 57P01-57P03 admin/crash shutdown and
# cannot-connect-now, 40001/40P01 serialization failure and deadlock (safe to retry whole).
_TRANSIENT_SQLSTATES = ("08", "57P01", "57P02", "57P03", "40001", "40P01", "53300")
# Messages of driver errors that carry no SQLSTATE (the socket closed under the driver).
_TRANSIENT_MESSAGES = (
    "terminating connection",
    "server closed the connection",
    "connection is closed",
    "connection already closed",
    "the connection is lost",
    "consuming input failed",
    "could not connect",
    "connection refused",
    "connection timeout",
    "timeout expired",
    "ssl syscall error",
    "no connection to the server",
    "connection reset",
    "broken pipe",
    "cannot connect now",
    "the database system is",
)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff from ``first`` doubling to ``cap`` seconds, for at most ``deadline`` seconds."""

    first: float = 0.05
    cap: float = 2.0
    deadline: float = 30.0


DEFAULT_POLICY = RetryPolicy()


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` says the connection failed, so the same work on a new one may pass."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if exc.orig is not None else exc
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_TRANSIENT_SQLSTATES):
        return True
    name = type(exc).__name__
    if name not in ("OperationalError", "InterfaceError", "ConnectionTimeout"):
        return False
    if type(exc).__module__.startswith("sqlite3"):
        return False  # SQLite's OperationalError is a locked file or bad SQL, never a socket
    text = str(exc).lower()
    return sqlstate is None or any(m in text for m in _TRANSIENT_MESSAGES)


def missing_table(exc: BaseException) -> bool:
    """True when ``exc`` says a tether table does not exist (a database never migrated)."""
    text = str(getattr(exc, "orig", None) or exc)
    return "no such table: tether_" in text or (
        'relation "tether_' in text and "does not exist" in text
    )


def next_delay(
    attempt: int, elapsed: float, policy: RetryPolicy, jitter: float = 1.0
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1`` (1-based), or None: give up.

    ``jitter`` in [0, 1] scales the delay (full jitter), so that an executor's many
    writers do not reconnect in lockstep after a failover.
    """
    if elapsed >= policy.deadline:
        return None
    delay = min(policy.cap, policy.first * (2 ** (attempt - 1))) * jitter
    return float(max(0.0, min(delay, policy.deadline - elapsed)))


def retrying(
    fn: Callable[[], T],
    what: str,
    policy: RetryPolicy = DEFAULT_POLICY,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """Run ``fn``, repeating it while it fails with a connection error, up to the deadline.

    ``fn`` must be safe to repeat (see the module doc). ``on_retry`` runs before each repeat
    (the commit lanes drop their broken connection there).
    """
    start = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            delay = next_delay(attempt, time.monotonic() - start, policy, random.random())
            if delay is None:
                raise DatabaseUnavailableError(
                    f"the database was unreachable for {policy.deadline:g}s while tether "
                    f"tried to {what} ({type(exc).__name__}: {_first_line(exc)}); "
                    "check the database and the network, then retry"
                ) from exc
            if attempt == 1 or attempt % 10 == 0:
                log.warning(
                    "%s failed on a broken connection; retrying: %s", what, _first_line(exc)
                )
            if on_retry is not None:
                on_retry(exc)
            time.sleep(delay)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
