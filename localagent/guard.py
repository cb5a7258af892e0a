"""Who may talk to the server: same-machine pages only, unless a token says otherwise.

A local server that turns on a microphone is a target for any web page the user visits:
a cross-origin `fetch` can POST an offer, and a DNS-rebinding page can even read the
answers. This ASGI middleware refuses, before any route runs:

- a Host header that is not this machine's loopback name or address (DNS rebinding), 403;
- a cross-origin browser request (Origin / Sec-Fetch-Site), 403;
- when bound to a non-loopback address, any request without the per-run token, 401. The
  token comes in the printed URL (`?token=`); the server answers with an HttpOnly,
  SameSite=Strict cookie so the page's own requests carry it;
- API writes without a Content-Length (411), over `max_body` bytes (413), or not JSON (415).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["TOKEN_COOKIE", "RequestGuard", "is_loopback_host", "new_token"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_COOKIE = "localagent_token"
LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def new_token() -> str:
    return secrets.token_urlsafe(18)


def is_loopback_host(host: str) -> bool:
    """Whether a bind address or Host name stays on this machine."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hostname(authority: str) -> str:
    """`host[:port]` or `[v6]:port` -> host."""
    return (urlsplit("//" + authority).hostname or "").lower()


class RequestGuard:
    """ASGI middleware; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        bind_host: str,
        token: str | None,
        max_body: int = 256 * 1024,
    ) -> None:
        self.app = app
        self.loopback_only = is_loopback_host(bind_host)
        self.bind_host = bind_host.strip("[]").lower()
        self.token = token
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refuse(scope, headers)
        if refusal is not None:
            await _reply(send, *refusal)
            return
        set_cookie = self._token_from_query(scope) is not None and self.token is not None

        async def send_with_cookie(message: Message) -> None:
            if set_cookie and message["type"] == "http.response.start":
                cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _refuse(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        host = _hostname(headers.get("host", ""))
        if self.loopback_only and not (is_loopback_host(host) or host == self.bind_host):
            return 403, f"Host '{host}' is not this machine; open the URL localagent printed."
        origin = headers.get("origin")
        if origin is not None:
            parts = urlsplit(origin)
            if origin == "null" or parts.netloc.lower() != headers.get("host", "").lower():
                return 403, "Cross-origin requests are refused."
        if headers.get("sec-fetch-site") == "cross-site":
            return 403, "Cross-site requests are refused."
        if self.token is not None and not self._has_token(scope, headers):
            return 401, "This server needs its token: open the full URL localagent printed."
        if scope["method"] in ("POST", "PATCH", "PUT") and scope["path"].startswith("/api/"):
            # The HTTP server holds a body to its Content-Length, so checking it bounds the
            # body; a streamed body without one is refused rather than counted.
            length = headers.get("content-length")
            if length is None or not length.isdigit():
                return 411, "Send a Content-Length."
            if int(length) > self.max_body:
                return 413, f"Request body over {self.max_body} bytes."
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return 415, "Send JSON (Content-Type: application/json)."
        return None

    def _token_from_query(self, scope: Scope) -> str | None:
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
        return values[0] if values else None

    def _has_token(self, scope: Scope, headers: dict[str, str]) -> bool:
        assert self.token is not None
        offered = [self._token_from_query(scope)]
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            offered.append(auth[7:].strip())
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == TOKEN_COOKIE:
                offered.append(value)
        return any(o and hmac.compare_digest(o, self.token) for o in offered)


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
