"""The local router: an HTTP proxy in front of local revisions, split like Cloud Run's ingress.

Each request goes to a revision chosen by the traffic split (or by its tag: ``/_tag/TAG/...``
or a ``TAG---...`` Host header), then to one of that revision's healthy instances; the
answer carries ``X-Tether-Revision`` naming the revision that served it.

It is a threaded stdlib server (``http.server`` + ``http.client``) rather than an ASGI app:
it runs in a background thread of the process that owns the platform, which is synchronous
code, and it needs no HTTP client library. Requests to the instances are small JSON calls.
"""

from __future__ import annotations

import http.client
import logging
import random
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tether.runtime.errors import TetherError

from .ingress import parse_tag

log = logging.getLogger("tether.rollout.router")

REVISION_HEADER = "X-Tether-Revision"
_DROP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "server",  # the router sets its own Server and Date
    "date",
}


class RouteError(TetherError):
    """No revision or instance can take the request; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


#: ``route(tag)`` → (revision, base URLs of its healthy instances); raises ``RouteError``.
Route = Callable[[str | None], tuple[str, Sequence[str]]]


class Router:
    """Listens on ``host``:``port`` (0: any free port) and proxies by ``route``."""

    def __init__(
        self, route: Route, *, host: str = "127.0.0.1", port: int = 0, timeout: float = 60.0
    ) -> None:
        self.route = route
        self.timeout = timeout
        handler = type("Handler", (_Handler,), {"router": self})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="tether-router", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    router: Router

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        log.debug("%s " + format, self.address_string(), *args)

    def _proxy(self) -> None:
        tag, path = parse_tag(self.path, self.headers.get("Host"))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            revision, urls = self.router.route(tag)
            if not urls:
                raise RouteError(503, f"revision {revision!r} has no healthy instance")
        except RouteError as exc:
            self._answer(exc.status, str(exc).encode(), {"Content-Type": "text/plain"})
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _DROP}
        for base in random.sample(list(urls), len(urls)):
            target = urlsplit(base)
            conn = http.client.HTTPConnection(
                target.hostname or "127.0.0.1", target.port, timeout=self.router.timeout
            )
            try:
                conn.request(self.command, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except ConnectionRefusedError:
                continue  # nothing was sent: another instance may take it
            except OSError as exc:
                self._answer(502, f"instance {base} failed: {exc}".encode(), {}, revision)
                return
            finally:
                conn.close()
            kept = {k: v for k, v in resp.getheaders() if k.lower() not in _DROP}
            self._answer(resp.status, data, kept, revision)
            return
        self._answer(502, f"no instance of {revision!r} answered".encode(), {}, revision)

    def _answer(
        self, status: int, body: bytes, headers: dict[str, str], revision: str | None = None
    ) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if revision is not None:
            self.send_header(REVISION_HEADER, revision)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _proxy
