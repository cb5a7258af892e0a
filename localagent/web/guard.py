"""Who may talk to the server: same-machine pages only, unless a token says otherwise.

A local server that turns on a microphone is a target for any web page the user visits:
a cross-origin `fetch` can POST an offer, and a DNS-rebinding page can even read the
answers. This ASGI middleware refuses, before any route runs:

- a Host header that is not this machine's loopback name or address (DNS rebinding), 403;
  behind a `--trusted-proxy`, the host the proxy says the browser asked for stands in
  for both (see `origins.py`);
- a cross-origin browser request (Origin / Sec-Fetch-Site), 403, unless its origin is one
  of `--allow-origin`'s, which also get CORS (preflight answered, responses readable);
- when bound to a non-loopback address, any request without the per-run token, 401. The
  token comes in the printed URL (`?token=`); the server answers with an HttpOnly,
  SameSite=Strict cookie so the page's own requests carry it;
- API writes without a Content-Length (411), over `max_body` bytes (413), or not JSON (415);
  the one upload (`/api/avatar-image`, a photo) takes only pictures, up to its own size.

Each kind of refusal is told to `on_refusal` (the log and the TUI) once, with its reason and
fix: a refused page itself sees only "Failed to fetch".
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Callable, Iterable, Mapping
from math import ceil
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from localagent.web.limits import AddressLimits
from localagent.web.origins import TrustedProxies, cors_headers, forwarded

__all__ = ["TOKEN_COOKIE", "RequestGuard", "is_loopback_host", "new_token"]

TOKEN_COOKIE = "localagent_token"
# Where a request body is checked: the API, and pipecat's runner routes (runner_routes.py).
_BODIES_CHECKED = ("/api/", "/start", "/sessions/")
# path -> (largest body, content types taken): the API writes that are not JSON.
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


def _forwarded_headers(headers: Mapping[str, str]) -> bool:
    """Whether a proxy seems to have sent it (for the hint to trust it, not to trust it)."""
    return "x-forwarded-host" in headers or "forwarded" in headers


def _cross_origin(origin: str | None) -> str:
    if origin is None or origin == "null":
        return "Cross-origin requests are refused."
    return (
        f"Cross-origin requests are refused: {origin} is not this server's page. "
        f"To allow a front end there, start localagent with --allow-origin {origin}."
    )


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
        allow_origins: Iterable[str] = (),
        trusted_proxies: Iterable[str] = (),
        on_refusal: Callable[[int, str], None] | None = None,
        limits: AddressLimits | None = None,
    ) -> None:
        self.app = app
        self.loopback_only = is_loopback_host(bind_host)
        self.bind_host = bind_host.strip("[]").lower()
        self.token = token
        self.max_body = max_body
        self.allow_origins = frozenset(o.lower() for o in allow_origins)
        self.proxies = TrustedProxies(trusted_proxies)
        self.on_refusal = on_refusal
        self.limits = limits  # beyond loopback: offers and wrong tokens per address
        self._told: set[tuple[int, str]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = HTTPConnection(scope)
        origin = request.headers.get("origin")
        allowed = origin is not None and origin.lower() in self.allow_origins
        cors = cors_headers(origin, None) if allowed and origin else []
        preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in (
            request.headers
        )
        if preflight:
            await self._preflight(request, origin, allowed, scope, receive, send)
            return
        refusal = self._limited(request) or self._refuse(request, allowed)
        if refusal is not None:
            status, detail = refusal
            self._tell(status, detail, request)
            response = JSONResponse({"detail": detail}, status_code=status)
            if status == 429 and (wait := _wait_of(detail)) is not None:
                response.headers["Retry-After"] = wait
            response.raw_headers.extend(cors)  # an allowed front end can read why
            await response(scope, receive, send)
            return
        set_cookie = self.token is not None and "token" in request.query_params

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if set_cookie:
                    cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                    headers.append("set-cookie", cookie)
                for name, value in cors:
                    headers.append(name.decode(), value.decode())
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    async def _preflight(
        self,
        request: HTTPConnection,
        origin: str | None,
        allowed: bool,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """CORS preflight: answered for an allowed origin only; nothing else runs."""
        if not allowed or origin is None:
            detail = _cross_origin(origin)
            self._tell(403, detail, request)
            await JSONResponse({"detail": detail}, status_code=403)(scope, receive, send)
            return
        asked = request.headers.get("access-control-request-headers", "content-type")
        response = Response(status_code=204)
        response.raw_headers.extend(cors_headers(origin, asked))
        await response(scope, receive, send)

    def _limited(self, request: HTTPConnection) -> tuple[int, str] | None:
        """An address banned for wrong tokens, or over its offers a minute: 429."""
        if self.limits is None:
            return None
        client = request.client.host if request.client else None
        if (banned := self.limits.banned_for(client)) is not None:
            return 429, f"Too many wrong tokens from {client}: try again in {ceil(banned)} s."
        offer = request.scope["method"] == "POST" and request.url.path.endswith("/api/offer")
        if offer and (wait := self.limits.offer(client)) is not None:
            return 429, f"Too many call offers from {client}: try again in {ceil(wait)} s."
        return None

    def _token_failed(self, request: HTTPConnection) -> None:
        """A wrong token (one was offered): counted; a ban is told once, with the count."""
        offered = request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE)
        if self.limits is None or not offered:
            return
        client = request.client.host if request.client else None
        if (ban := self.limits.token_failed(client)) is not None and self.on_refusal:
            count = self.limits.refused().get(client or "", 0)
            self.on_refusal(
                429,
                f"{client} banned for {ban:g} s after {count} refused requests "
                "(wrong tokens among them)",
            )

    def _tell(self, status: int, detail: str, request: HTTPConnection) -> None:
        """Each refusal once (with its reason and fix), however often it recurs."""
        if self.on_refusal is None or (status, detail) in self._told:
            return
        self._told.add((status, detail))
        client = request.client.host if request.client else "?"
        self.on_refusal(
            status, f"{detail} ({request.scope['method']} {request.url.path} from {client})"
        )

    def _authority(self, request: HTTPConnection) -> tuple[str, str | None]:
        """The host[:port] the browser asked for, and the scheme when a trusted proxy said."""
        client = request.client.host if request.client else None
        if self.proxies.trusts(client) and (said := forwarded(request.headers)) is not None:
            return said.host, said.scheme
        return request.headers.get("host", "").lower(), None

    def _refuse(self, request: HTTPConnection, allowed_origin: bool) -> tuple[int, str] | None:
        headers = request.headers
        authority, scheme = self._authority(request)
        proxied = scheme is not None
        host = _hostname(authority)
        if (
            self.loopback_only
            and not proxied  # the proxy, on this machine, decided who reaches it
            and not (is_loopback_host(host) or host == self.bind_host)
        ):
            hint = ""
            if _forwarded_headers(headers):
                hint = " (behind a reverse proxy: start localagent with --trusted-proxy ADDR)"
            return 403, f"Host '{host}' is not this machine; open the URL localagent printed{hint}."
        origin = headers.get("origin")
        if (
            origin is not None
            and not allowed_origin
            and (
                origin == "null"
                or urlsplit(origin).netloc.lower() != authority
                # behind a proxy the scheme is known too: an http page for an https site
                # is another origin
                or (scheme is not None and urlsplit(origin).scheme.lower() != scheme)
            )
        ):
            hint = ""
            if not proxied and _forwarded_headers(headers):
                hint = " A reverse proxy rewrote Host: start localagent with --trusted-proxy ADDR."
            return 403, _cross_origin(origin) + hint
        if headers.get("sec-fetch-site") == "cross-site" and not allowed_origin:
            return 403, "Cross-site requests are refused."
        if self.token is not None and not self._has_token(request):
            self._token_failed(request)
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


def _wait_of(detail: str) -> str | None:
    """The seconds in a 429's "try again in N s", for Retry-After."""
    words = detail.split()
    if "in" in words and words.index("in") + 1 < len(words):
        value = words[words.index("in") + 1]
        return value if value.isdigit() else None
    return None
