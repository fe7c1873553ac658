"""The dashboard's token: a bearer header for scripts, a cookie for browsers.

When a token is configured (``TETHER_DASHBOARD_TOKEN``), every request must carry it, as
``Authorization: Bearer <token>`` or the ``tether_dashboard_token`` cookie that the login
form sets; otherwise the API answers 401 JSON and pages show the login form.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "tether_dashboard_token"
ENV = "TETHER_DASHBOARD_TOKEN"


def presented(headers: Mapping[str, str], cookies: Mapping[str, str]) -> str | None:
    """The token a request carries, from its bearer header or else its cookie (pure)."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return cookies.get(COOKIE) or None


def matches(token: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(token.encode(), given.encode())


_LOGIN = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>tether · sign in</title><style>body{{font:15px system-ui,sans-serif;background:#f5f6f8;
display:grid;place-items:center;height:100vh;margin:0}}form{{background:#fff;padding:2rem;
border-radius:10px;box-shadow:0 1px 4px #0002;display:grid;gap:.8rem;min-width:18rem}}
input,button{{font:inherit;padding:.5rem}}button{{background:#3451b2;color:#fff;border:0;
border-radius:6px}}p{{color:#b42318;margin:0}}</style></head><body>
<form method="post" action="{action}"><strong>tether dashboard</strong>
<label>Token <input type="password" name="token" autofocus required></label>{error}
<button>Sign in</button></form></body></html>"""


class TokenAuth:
    """ASGI middleware: pass requests that carry ``token``; ``/login`` sets the cookie."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        path = scope["path"][len(scope.get("root_path", "")) :] or "/"
        if path == "/login":
            response = await self._login(request)
        elif matches(self.token, presented(request.headers, request.cookies)):
            await self.app(scope, receive, send)
            return
        elif path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
            response = JSONResponse(
                {"error": f"a token is required: send 'Authorization: Bearer <{ENV}>'"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        else:
            response = self._form(request, "", status=401)
        await response(scope, receive, send)

    def _form(self, request: Request, error: str, status: int = 200) -> Response:
        action = scope_root(request) + "/login"
        return HTMLResponse(_LOGIN.format(action=action, error=error), status_code=status)

    async def _login(self, request: Request) -> Response:
        if request.method != "POST":
            return self._form(request, "")
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0]
        if not matches(self.token, given):
            return self._form(request, "<p>That token is not the dashboard's.</p>", status=401)
        response = RedirectResponse(scope_root(request) + "/", status_code=303)
        response.set_cookie(
            COOKIE,
            given,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path=scope_root(request) or "/",
        )
        return response


def scope_root(request: Request) -> str:
    """Where the dashboard is mounted ("" at the root, "/dashboard" under ``tether serve``)."""
    return str(request.scope.get("root_path", "")).rstrip("/")
