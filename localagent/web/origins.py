"""Which origin a request comes from, through a trusted reverse proxy, and CORS for others.

A reverse proxy that rewrites `Host` (nginx's default, `proxy_set_header Host $proxy_host`)
makes every same-origin page request look cross-origin: its `Origin` names the proxy's
address, its `Host` the upstream. Only from an address named with `--trusted-proxy` are
`X-Forwarded-Host`/`X-Forwarded-Proto` (or RFC 7239 `Forwarded`) believed; from anywhere
else they are ignored, since anyone can send them. A front end served from another origin
(`--allow-origin`) gets CORS: its preflight answered, its responses readable.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["CORS_METHODS", "Authority", "TrustedProxies", "cors_headers", "forwarded"]

CORS_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
_CORS_MAX_AGE = "600"


@dataclass(frozen=True)
class Authority:
    """The host (with its port) and scheme the browser used, as the server should see it."""

    host: str
    scheme: str


class TrustedProxies:
    def __init__(self, addresses: Iterable[str]) -> None:
        self._networks = [ipaddress.ip_network(a, strict=False) for a in addresses]

    def trusts(self, client: str | None) -> bool:
        if not client or not self._networks:
            return False
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        return any(address in network for network in self._networks)


def _first(value: str) -> str:
    return value.split(",")[0].strip()


def forwarded(headers: Mapping[str, str]) -> Authority | None:
    """What the proxy says the browser asked for: `Forwarded` first, then `X-Forwarded-*`."""
    if value := headers.get("forwarded"):
        fields: dict[str, str] = {}
        for pair in _first(value).split(";"):
            name, _, text = pair.partition("=")
            fields[name.strip().lower()] = text.strip().strip('"')
        if host := fields.get("host"):
            return Authority(host.lower(), fields.get("proto", "http").lower())
    if host := headers.get("x-forwarded-host"):
        proto = _first(headers.get("x-forwarded-proto", "http")).lower()
        return Authority(_first(host).lower(), proto)
    return None


def cors_headers(origin: str, request_headers: str | None) -> list[tuple[bytes, bytes]]:
    """The response headers that let a page on `origin` read (and preflight) this server."""
    headers = [
        (b"access-control-allow-origin", origin.encode()),
        (b"access-control-allow-credentials", b"true"),
        (b"vary", b"Origin"),
    ]
    if request_headers is not None:  # a preflight
        headers += [
            (b"access-control-allow-methods", CORS_METHODS.encode()),
            (b"access-control-allow-headers", request_headers.encode()),
            (b"access-control-max-age", _CORS_MAX_AGE.encode()),
        ]
    return headers
