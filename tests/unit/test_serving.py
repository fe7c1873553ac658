"""The HTTP surface's pure parts: the health verdict and the start request's parsing."""

from __future__ import annotations

import pytest
from tether.runtime.records import ExecutorRecord

from tether.serving import RequestError, StartRequest, health_verdict, parse_start

NOW = 100_000
LEASE = 10_000


def executor(state: str = "RUNNING", heartbeat_at: int = NOW - 1_000) -> ExecutorRecord:
    return ExecutorRecord("ex", "v1", ("v1",), state, "host", 1, 0, heartbeat_at, True)


@pytest.mark.parametrize(
    ("launched", "draining", "db_error", "record", "reason"),
    [
        (True, False, None, executor(), None),
        (True, False, None, executor(heartbeat_at=NOW - LEASE), None),
        (False, False, None, None, "not launched"),
        (True, True, None, executor(), "draining"),
        (True, False, "connection refused", None, "database unreachable: connection refused"),
        (True, False, None, None, "not registered"),
        (True, False, None, executor(state="STOPPED"), "executor is STOPPED"),
        (True, False, None, executor(heartbeat_at=NOW - LEASE - 1), "no heartbeat for 10.0 s"),
    ],
)
def test_health_verdict(
    launched: bool,
    draining: bool,
    db_error: str | None,
    record: ExecutorRecord | None,
    reason: str | None,
) -> None:
    verdict = health_verdict(
        launched=launched,
        draining=draining,
        db_error=db_error,
        record=record,
        now=NOW,
        lease_timeout_ms=LEASE,
    )
    if reason is None:
        assert verdict is None
    else:
        assert verdict is not None and reason in verdict


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", StartRequest([], {})),
        (b"{}", StartRequest([], {})),
        (b'{"args": [1, "a"]}', StartRequest([1, "a"], {})),
        (b'{"kwargs": {"x": null}, "workflow_id": "w"}', StartRequest([], {"x": None}, "w")),
    ],
)
def test_parse_start(body: bytes, expected: StartRequest) -> None:
    assert parse_start(body) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{nope", "not JSON"),
        (b"\xff", "not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"args": {"a": 1}}', '"args" must be a JSON array'),
        (b'{"kwargs": [1]}', '"kwargs" must be a JSON object'),
        (b'{"workflow_id": 5}', '"workflow_id" must be a non-empty string'),
        (b'{"workflow_id": ""}', '"workflow_id" must be a non-empty string'),
        (b'{"argz": []}', "unknown keys \\['argz'\\]"),
    ],
)
def test_parse_start_refuses(body: bytes, message: str) -> None:
    with pytest.raises(RequestError, match=message) as info:
        parse_start(body)
    assert info.value.status == 400
