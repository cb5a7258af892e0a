"""Who may talk to the server: same-machine pages only, unless a token says otherwise.

A local server that turns on a microphone is a target for any web page the user visits:
a cross-origin `fetch` can POST an offer, and a DNS-rebinding page can even read the
answers. This ASGI middleware refuses, before any route runs:

- a Host header that is not this machine's loopback name or address (DNS rebinding), 403;
- a cross-origin browser request (Origin / Sec-Fetch-Site), 403;
- when bound to a non-loopback address, any request without the per-run token, 401. The
  token comes in the printed URL (`?token=`); the server answers with an HttpOnly,
  SameSite=Strict cookie so the page's own requests carry it;
- API writes without a Content-Length (411), over `max_body` bytes (413), or not JSON (415);
  the one upload (`/api/avatar-image`, a photo) takes only pictures, up to its own size.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["TOKEN_COOKIE", "RequestGuard", "is_loopback_host", "new_token"]

TOKEN_COOKIE = "localagent_token"
# path -> (largest body, content types taken): the API writes that are not JSON.
# Where a request body is checked: the API, and pipecat's runner routes (runner_routes.py).
_BODIES_CHECKED = ("/api/", "/start", "/sessions/")
UPLOADS = {
    "/api/avatar-image": (12 * 1024 * 1024, frozenset({"image/jpeg", "image/png", "image/webp"}))
}
_JSON = frozenset({"application/json"})
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
        request = HTTPConnection(scope)
        refusal = self._refuse(request)
        if refusal is not None:
            status, detail = refusal
            await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)
            return
        set_cookie = self.token is not None and "token" in request.query_params

        async def send_with_cookie(message: Message) -> None:
            if set_cookie and message["type"] == "http.response.start":
                cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _refuse(self, request: HTTPConnection) -> tuple[int, str] | None:
        headers = request.headers
        authority = headers.get("host", "")
        host = _hostname(authority)
        if self.loopback_only and not (is_loopback_host(host) or host == self.bind_host):
            return 403, f"Host '{host}' is not this machine; open the URL localagent printed."
        origin = headers.get("origin")
        if origin is not None and (
            origin == "null" or urlsplit(origin).netloc.lower() != authority.lower()
        ):
            return 403, "Cross-origin requests are refused."
        if headers.get("sec-fetch-site") == "cross-site":
            return 403, "Cross-site requests are refused."
        if self.token is not None and not self._has_token(request):
            return 401, "This server needs its token: open the full URL localagent printed."
        if request.scope["method"] in ("POST", "PATCH", "PUT") and request.scope["path"].startswith(
            _BODIES_CHECKED
        ):
            # The HTTP server holds a body to its Content-Length, so checking it bounds the
            # body; a streamed body without one is refused rather than counted.
            length = headers.get("content-length")
            if length is None or not length.isdigit():
                return 411, "Send a Content-Length."
            limit, types = UPLOADS.get(request.scope["path"], (self.max_body, _JSON))
            if int(length) > limit:
                return 413, f"Request body over {limit} bytes."
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype not in types:
                if types is _JSON:
                    return 415, "Send JSON (Content-Type: application/json)."
                return 415, f"Send a picture (Content-Type: {', '.join(sorted(types))})."
        return None

    def _has_token(self, request: HTTPConnection) -> bool:
        assert self.token is not None
        offered = [request.query_params.get("token"), request.cookies.get(TOKEN_COOKIE)]
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            offered.append(auth[7:].strip())
        return any(o and hmac.compare_digest(o.encode(), self.token.encode()) for o in offered)
