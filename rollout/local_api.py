"""A ``LocalPlatform`` reached from other processes, as Cloud Run's Admin API is.

A rollout's controller and its drain are durable workflows: they may resume in another
process, such as a revision's own ``tether serve`` instance, which must still move traffic and
retire revisions. The local router therefore answers the platform's operations itself under
``/_platform/`` (guarded by a token that only the stored spec carries), and
``LocalPlatformClient`` implements the ``Platform`` protocol over that API:

    spec = platform.spec()        # {"kind": "local", "url": router URL, "token": ...}
    LocalPlatformClient(**{k: v for k, v in spec.items() if k != "kind"}).describe()
"""

from __future__ import annotations

import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from tether.runtime.errors import TetherError

from .platform import Platform, PlatformError, Revision, ServiceState, SplitError
from .router import CONTROL_PREFIX

TOKEN_HEADER = "X-Tether-Platform-Token"
OPERATIONS = ("describe", "set_traffic", "keep_warm", "wake", "set_scaling", "retire")
_ERRORS: dict[str, type[PlatformError]] = {"SplitError": SplitError, "PlatformError": PlatformError}


def state_to_dict(state: ServiceState) -> dict[str, Any]:
    data = asdict(state)
    data["extra"] = dict(state.extra)
    return data


def state_from_dict(data: Mapping[str, Any]) -> ServiceState:
    fields = dict(data)
    fields["revisions"] = tuple(Revision(**r) for r in data["revisions"])
    return ServiceState(**fields)


def answer(
    platform: Platform,
    token: str,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
) -> tuple[int, bytes]:
    """The router's answer to ``METHOD /_platform/OPERATION`` with JSON keyword arguments."""
    given = next((v for k, v in headers.items() if k.lower() == TOKEN_HEADER.lower()), "")
    if not hmac.compare_digest(given, token):
        return _error(
            403, "PlatformError", f"the platform token ({TOKEN_HEADER}) is missing or wrong"
        )
    operation = path[len(CONTROL_PREFIX) :].strip("/")
    if operation not in OPERATIONS:
        return _error(404, "PlatformError", f"no operation {operation!r}: use {OPERATIONS}")
    if (operation == "describe") != (method == "GET"):
        return _error(405, "PlatformError", f"{method} {operation}: GET describe, POST the rest")
    try:
        kwargs = json.loads(body) if body.strip() else {}
        if not isinstance(kwargs, dict):
            raise ValueError("a JSON object of keyword arguments")
        result = getattr(platform, operation)(**kwargs)
    except (ValueError, TypeError) as exc:
        return _error(400, "PlatformError", f"bad arguments for {operation}: {exc}")
    except PlatformError as exc:
        return _error(409, type(exc).__name__, str(exc))
    except TetherError as exc:
        return _error(409, "PlatformError", str(exc))
    out = state_to_dict(result) if isinstance(result, ServiceState) else result
    return 200, json.dumps({"result": out}).encode()


def _error(status: int, kind: str, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"error": message, "type": kind}).encode()


class LocalPlatformClient:
    """The ``Platform`` protocol over a ``LocalPlatform``'s router, from any local process."""

    def __init__(self, url: str, token: str, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def spec(self) -> dict[str, Any]:
        return {"kind": "local", "url": self.url, "token": self.token}

    def _call(self, operation: str, **kwargs: Any) -> Any:
        body = None if operation == "describe" else json.dumps(kwargs).encode()
        req = urllib.request.Request(
            f"{self.url}{CONTROL_PREFIX}{operation}",
            data=body,
            method="GET" if body is None else "POST",
            headers={TOKEN_HEADER: self.token, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                return json.loads(resp.read())["result"]
        except urllib.error.HTTPError as err:
            try:
                data = json.loads(err.read())
            except ValueError:
                data = {"error": f"HTTP {err.code}", "type": "PlatformError"}
            raise _ERRORS.get(data.get("type", ""), PlatformError)(data["error"]) from None

    def _state(self, operation: str, **kwargs: Any) -> ServiceState:
        return state_from_dict(self._call(operation, **kwargs))

    def describe(self) -> ServiceState:
        return self._state("describe")

    def set_traffic(
        self, split: Mapping[str, int], tags: Mapping[str, str] | None = None
    ) -> ServiceState:
        return self._state("set_traffic", split=dict(split), tags=dict(tags or {}))

    def keep_warm(self, revision: str, tag: str) -> ServiceState:
        return self._state("keep_warm", revision=revision, tag=tag)

    def wake(self, revision: str) -> bool:
        return bool(self._call("wake", revision=revision))

    def set_scaling(
        self, *, min_instances: int | None = None, max_instances: int | None = None
    ) -> ServiceState:
        return self._state("set_scaling", min_instances=min_instances, max_instances=max_instances)

    def retire(self, revision: str, *, delete: bool = False) -> ServiceState:
        return self._state("retire", revision=revision, delete=delete)
