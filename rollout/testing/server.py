"""The stand-in's REST front end: the Admin API v2 wire format over stdlib ``http.server``.

Stdlib rather than an ASGI stack: the client library speaks plain HTTP/1.1 JSON, the server
runs in a thread of the test process, and users get it without another dependency. Request
bodies are parsed with the library's own message types and unknown fields refused, so a
malformed request from the code under test fails loudly instead of being half-understood.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from google.cloud import run_v2
from google.protobuf import field_mask_pb2, json_format

from . import api
from .state import ApiError, CloudRunState, Operation, RequestRecord

_SEG = r"[^/:]+"
_LOCATION = rf"projects/{_SEG}/locations/{_SEG}"
_SERVICE = rf"{_LOCATION}/services/{_SEG}"
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(rf"^/v2/({_SERVICE})$"), "GetService"),
    ("PATCH", re.compile(rf"^/v2/({_SERVICE})$"), "UpdateService"),
    ("GET", re.compile(rf"^/v2/({_SERVICE})/revisions$"), "ListRevisions"),
    ("GET", re.compile(rf"^/v2/({_SERVICE}/revisions/{_SEG})$"), "GetRevision"),
    ("DELETE", re.compile(rf"^/v2/({_SERVICE}/revisions/{_SEG})$"), "DeleteRevision"),
    ("GET", re.compile(rf"^/v2/({_LOCATION}/operations/{_SEG})$"), "GetOperation"),
    ("POST", re.compile(rf"^/v2/({_LOCATION}/operations/{_SEG}):wait$"), "WaitOperation"),
    ("POST", re.compile(rf"^/_tags/({_SEG})/({_SEG})/tether/wake$"), "Wake"),
]  # fmt: skip


def to_json(message: Any, ints: bool) -> dict[str, Any]:
    pb = message if hasattr(message, "DESCRIPTOR") else type(message).pb(message)
    out: dict[str, Any] = json_format.MessageToDict(pb, use_integers_for_enums=ints)
    return out


def operation_json(op: Operation, ints: bool) -> dict[str, Any]:
    return to_json(api.operation_pb(op), ints)


def error_json(err: ApiError) -> dict[str, Any]:
    details = [json_format.MessageToDict(api.pack_pb(d)) for d in err.details]
    body = {"code": err.http, "message": err.message, "status": err.status, "details": details}
    return {"error": body}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: Headers and body go out as separate writes; without this, Nagle's algorithm and the
    #: client's delayed ACK add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    state: CloudRunState  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        route = next(
            ((rpc, m) for verb, rx, rpc in ROUTES if verb == method and (m := rx.match(url.path))),
            None,
        )
        rpc = route[0] if route else "Unknown"
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = {"_unparsed": raw}
        with self.state.lock:
            self.state.requests.append(
                RequestRecord(rpc, method, url.path, query, body, dict(self.headers.items()))
            )
        try:
            if route is None:
                raise ApiError(404, f"no such method: {method} {url.path}")
            answer = self._dispatch(rpc, route[1].groups(), query, raw)
            self._send(200, answer)
        except ApiError as err:
            self._send(err.http, error_json(err))

    def _dispatch(self, rpc: str, groups: tuple[str, ...], query: dict[str, str], raw: str) -> Any:
        state = self.state
        ints = "enum-encoding=int" in query.get("$alt", "")
        name = groups[0]
        calls: dict[str, Callable[[], Any]] = {
            "GetService": lambda: to_json(api.get_service(state, name, tick=True), ints),
            "UpdateService": lambda: operation_json(self._update(name, query, raw), ints),
            "ListRevisions": lambda: to_json(
                api.list_revisions(
                    state, name, int(query.get("pageSize") or 0), query.get("pageToken", "")
                ),
                ints,
            ),
            "GetRevision": lambda: to_json(api.get_revision(state, name), ints),
            "DeleteRevision": lambda: operation_json(
                api.delete_revision(
                    state, name, query.get("etag", ""), query.get("validateOnly") == "true"
                ),
                ints,
            ),
            "GetOperation": lambda: operation_json(api.get_operation(state, name), ints),
            "WaitOperation": lambda: operation_json(api.get_operation(state, name), ints),
            "Wake": lambda: self._wake(groups[0], groups[1]),
        }
        return call(state, rpc, calls[rpc])

    def _update(self, name: str, query: dict[str, str], raw: str) -> Operation:
        try:
            incoming = run_v2.Service.from_json(raw or "{}", ignore_unknown_fields=False)
        except json_format.ParseError as exc:
            raise ApiError(400, f"Invalid JSON payload received. {exc}") from exc
        mask = None
        if "updateMask" in query:
            parsed = field_mask_pb2.FieldMask()
            parsed.FromJsonString(query["updateMask"])
            mask = list(parsed.paths)
        return api.update_service(
            self.state, name, incoming, mask, query.get("validateOnly") == "true"
        )

    def _wake(self, service: str, tag: str) -> dict[str, Any]:
        svc = self.state.services.get(self.state.service_name(service))
        target = next((t.revision for t in (svc.traffic if svc else []) if t.tag == tag), None)
        if target is None or target in self.state.unreachable:
            raise ApiError(503, f"tag {tag!r} does not reach a running revision")
        self.state.wakes.append(target)
        return {"woken": target}

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def call(state: CloudRunState, rpc: str, fn: Callable[[], Any]) -> Any:
    """Run an RPC under the state lock, with permission checks and injected faults."""
    with state.lock:
        api.check_access(state, rpc)
        fault = state.take_fault(rpc)
        if fault and not fault.apply:
            raise fault.error
        result = fn()
        if fault:
            raise fault.error
        return result


class RestServer:
    """``ThreadingHTTPServer`` on 127.0.0.1 with a free port, served from a daemon thread."""

    def __init__(self, state: CloudRunState) -> None:
        handler = type("BoundHandler", (Handler,), {"state": state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
