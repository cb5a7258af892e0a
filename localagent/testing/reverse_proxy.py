"""A reverse proxy on loopback that behaves like nginx's defaults: it rewrites `Host`.

nginx's `proxy_pass` sends `Host: $proxy_host` (the upstream's address) unless told
otherwise, and a typical config adds `X-Forwarded-Host`/`-Proto`/`-For`; Caddy keeps
`Host` but sends the same `X-Forwarded-*`. `style="forwarded"` sends RFC 7239's
`Forwarded` instead. Plain HTTP requests and server-sent streams pass through.
"""

from __future__ import annotations

from typing import Any, Literal

import aiohttp
from aiohttp import web

from localagent.testing.in_thread import InThread
from localagent.testing.loopback import LoopbackServer

__all__ = ["ReverseProxy", "ThreadedReverseProxy"]

_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length",
}  # fmt: skip


class ReverseProxy(LoopbackServer):
    def __init__(
        self,
        upstream: str,
        *,
        style: Literal["x-forwarded", "forwarded", "none"] = "x-forwarded",
        keep_host: bool = False,
    ) -> None:
        super().__init__()
        self.upstream = upstream.rstrip("/")
        self.style, self.keep_host = style, keep_host
        self._http: aiohttp.ClientSession | None = None

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        return app

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
        await super().stop()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        if self._http is None:
            self._http = aiohttp.ClientSession(auto_decompress=False)
        headers: dict[str, Any] = {
            k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP
        }
        upstream_host = self.upstream.split("://", 1)[1]
        headers["Host"] = request.host if self.keep_host else upstream_host
        client = request.remote or "127.0.0.1"
        if self.style == "x-forwarded":
            headers["X-Forwarded-Host"] = request.host
            headers["X-Forwarded-Proto"] = request.scheme
            headers["X-Forwarded-For"] = client
        elif self.style == "forwarded":
            headers["Forwarded"] = f'for={client};host="{request.host}";proto={request.scheme}'
        body = await request.read()
        async with self._http.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=body or None,
            allow_redirects=False,
        ) as upstream:
            response = web.StreamResponse(status=upstream.status)
            for name, value in upstream.headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    response.headers.add(name, value)
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response


class ThreadedReverseProxy(InThread[ReverseProxy]):
    def __init__(self, upstream: str, **kwargs: Any) -> None:
        super().__init__(lambda: ReverseProxy(upstream, **kwargs))
