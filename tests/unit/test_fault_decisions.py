"""Table tests of the pure decisions behind database-fault handling: which errors are
retried, how long, the lease self-check, the self-audit, and workflow-id checks."""

from __future__ import annotations

import math
import sqlite3
from typing import Any

import psycopg
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError
from tether.runtime.errors import ConfigurationError
from tether.runtime.ids import check_workflow_id
from tether.runtime.leases import strays
from tether.runtime.selfcheck import Verdict, lease_verdict
from tether.runtime.store.retry import RetryPolicy, is_transient, next_delay


def _wrapped(orig: BaseException, invalidated: bool = False) -> OperationalError:
    return OperationalError("SELECT 1", {}, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (_wrapped(psycopg.errors.AdminShutdown("terminating connection")), True),
        (_wrapped(psycopg.OperationalError("server closed the connection unexpectedly")), True),
        (_wrapped(psycopg.OperationalError("connection timeout expired")), True),
        (_wrapped(Exception("anything"), invalidated=True), True),
        (psycopg.errors.SerializationFailure("could not serialize"), True),
        (psycopg.errors.DeadlockDetected("deadlock detected"), True),
        (psycopg.errors.UniqueViolation("duplicate key"), False),
        (IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("dup")), False),
        (psycopg.errors.UndefinedTable("no such table"), False),
        (_wrapped(sqlite3.OperationalError("database is locked")), False),
        (_wrapped(sqlite3.OperationalError("no such table: x")), False),
        (ValueError("bad"), False),
    ],
)
def test_is_transient(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


P = RetryPolicy(first=0.05, cap=1.0, deadline=10.0)


@pytest.mark.parametrize(
    ("attempt", "elapsed", "jitter", "delay"),
    [
        (1, 0.0, 1.0, 0.05),
        (2, 0.1, 1.0, 0.1),
        (5, 1.0, 1.0, 0.8),
        (6, 2.0, 1.0, 1.0),  # capped
        (30, 5.0, 1.0, 1.0),
        (3, 0.2, 0.5, 0.1),  # jitter scales
        (10, 9.5, 1.0, 0.5),  # never past the deadline
        (10, 10.0, 1.0, None),  # deadline reached: give up
    ],
)
def test_next_delay(attempt: int, elapsed: float, jitter: float, delay: float | None) -> None:
    got = next_delay(attempt, elapsed, P, jitter)
    assert got == (None if delay is None else pytest.approx(delay))


@pytest.mark.parametrize(
    ("now", "last_beat", "broken_at", "held_since", "verdict"),
    [
        (10.0, 9.0, -math.inf, 0.0, Verdict.OK),  # fresh beat, no gap
        (10.0, 2.6, -math.inf, 0.0, Verdict.OK),  # 7.4 s old: still inside lease - margin
        (10.0, 2.5, -math.inf, 0.0, Verdict.REVALIDATE),  # 7.5 s: at the margin
        (30.0, 9.0, -math.inf, 0.0, Verdict.REVALIDATE),  # paused: the beat is old
        (30.0, 29.9, 29.9, 5.0, Verdict.REVALIDATE),  # beat again after a gap: held before it
        (30.0, 29.9, 29.9, 29.95, Verdict.OK),  # re-taken after the gap
        (30.0, 29.9, 12.0, 20.0, Verdict.OK),  # a gap before this lease was acquired
    ],
)
def test_lease_verdict(
    now: float, last_beat: float, broken_at: float, held_since: float, verdict: Verdict
) -> None:
    got = lease_verdict(
        now=now,
        last_beat=last_beat,
        broken_at=broken_at,
        held_since=held_since,
        lease=10.0,
        margin=2.5,
    )
    assert got is verdict


@pytest.mark.parametrize(
    ("held", "local", "suspects", "act", "next_suspects"),
    [
        ({}, [], {}, [], {}),
        ({"a": 1}, ["a"], {}, [], {}),  # running here: fine
        ({"a": 1}, [], {}, [], {"a": 1}),  # first sighting: suspect only
        ({"a": 1}, [], {"a": 1}, ["a"], {}),  # second at the same epoch: re-run
        ({"a": 2}, [], {"a": 1}, [], {"a": 2}),  # epoch moved (re-claimed): suspect again
        ({"a": 1}, ["a"], {"a": 1}, [], {}),  # started meanwhile
        ({"a": 1, "b": 3}, ["b"], {"a": 1, "c": 1}, ["a"], {}),
    ],
)
def test_strays(
    held: dict[str, int],
    local: list[str],
    suspects: dict[str, int],
    act: list[str],
    next_suspects: dict[str, int],
) -> None:
    assert strays(held, local, suspects) == (act, next_suspects)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("", "empty"),
        ("x" * 256, "256 characters long"),
        ("a\x00b", "NUL"),
        (42, "must be a str, not int"),
        (None, "must be a str, not NoneType"),
        (b"abc", "must be a str, not bytes"),
    ],
)
def test_bad_workflow_ids(value: Any, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        check_workflow_id(value)


@pytest.mark.parametrize("value", ["a", "x" * 255, "order-42/retry ü"])
def test_good_workflow_ids(value: str) -> None:
    assert check_workflow_id(value) == value
