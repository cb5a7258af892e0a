"""uvicorn's HTTP/1.1 protocol with a deadline for each request, TLS within it, and a cap
on the connections one address may hold.

uvicorn closes a connection that sits idle after a response (keep-alive, 5 s), but not one
that never sends a whole request: a socket opened and left silent, headers sent a byte at a
time, or a body that never ends is held open for good, each costing a descriptor. Here every
request must arrive whole within `request_timeout_s` of the connection opening (or of the
previous response); otherwise the server closes it.

Over HTTPS the same holds from the first byte: asyncio's TLS handshake would wait 60 s for
a client that never starts it, so the protocol starts TLS itself (`loop.start_tls`) with the
handshake bounded by the same limit, and the first request gets what is left of it. Beyond
loopback, `limits` caps the connections of each address (`web/limits.py`); one over the cap
is closed as it arrives.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from localagent.web.limits import AddressLimits

__all__ = ["TimedH11Protocol", "timed_h11"]

_LEAST_S = 1.0  # the first request's time after a slow handshake, at least


def timed_h11(
    request_timeout_s: float,
    ssl_context: ssl.SSLContext | None = None,
    limits: AddressLimits | None = None,
) -> type[TimedH11Protocol]:
    """The protocol class to hand uvicorn (`Config(http=...)`, with no `ssl_*` of its own)."""
    return type(
        "TimedH11Protocol",
        (TimedH11Protocol,),
        {"request_timeout_s": request_timeout_s, "ssl_context": ssl_context, "limits": limits},
    )


class TimedH11Protocol(H11Protocol):
    request_timeout_s = 10.0
    ssl_context: ssl.SSLContext | None = None
    limits: AddressLimits | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._peer: str | None = None
        self._counted = False
        self._tls: asyncio.Task[None] | None = None
        self._made = False  # uvicorn's protocol has its transport (after TLS, if any)
        # what TLS decrypted before this task resumed (TLS 1.3 sends the request with the
        # handshake's last flight): handed to h11 once it has the transport
        self._early: list[bytes] = []

    def _arm(self, after_s: float | None = None) -> None:
        self._disarm()
        wait = self.request_timeout_s if after_s is None else after_s
        self._deadline = self.loop.call_later(wait, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        peer = transport.get_extra_info("peername")
        self._peer = str(peer[0]) if isinstance(peer, tuple) and peer else None
        if self.limits is not None:
            if not self.limits.connected(self._peer):
                transport.abort()  # over this address's cap: refused at once
                return
            self._counted = True
        if self.ssl_context is None:
            self._made = True
            super().connection_made(transport)
            self._arm()
            return
        transport.pause_reading()  # the ClientHello is for TLS, not for h11
        self._tls = self.loop.create_task(self._start_tls(transport, self.loop.time()))

    async def _start_tls(self, transport: asyncio.Transport, accepted: float) -> None:
        assert self.ssl_context is not None
        try:
            secured = await self.loop.start_tls(
                transport,
                self,
                self.ssl_context,
                server_side=True,
                ssl_handshake_timeout=self.request_timeout_s,
            )
        except (OSError, TimeoutError, ssl.SSLError, asyncio.CancelledError):
            # silent, too slow, not TLS, or the server stopping: the connection goes
            if not transport.is_closing():
                transport.abort()
            self._release()
            return
        if secured is None or secured.is_closing():
            self._release()
            return
        self._made = True
        super().connection_made(secured)
        left = self.request_timeout_s - (self.loop.time() - accepted)
        self._arm(max(left, _LEAST_S))
        early, self._early = self._early, []
        for data in early:
            self.data_received(data)

    def _release(self) -> None:
        if self._counted and self.limits is not None:
            self._counted = False
            self.limits.closed(self._peer)

    def data_received(self, data: bytes) -> None:
        if not self._made:
            self._early.append(data)
            return
        super().data_received(data)
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._disarm()  # the request is in: the app's answer is not on this clock

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._release()
        if self._made:  # not for one refused at once, or lost before its TLS was up
            super().connection_lost(exc)
