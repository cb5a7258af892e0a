"""uvicorn's HTTP/1.1 protocol with a deadline for each request.

uvicorn closes a connection that sits idle after a response (keep-alive, 5 s), but not one
that never sends a whole request: a socket opened and left silent, headers sent a byte at a
time, or a body that never ends is held open for good, each costing a descriptor. Here every
request must arrive whole within `REQUEST_TIMEOUT_S` of the connection opening (or of the
previous response); otherwise the server closes it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["TimedH11Protocol", "timed_h11"]


def timed_h11(request_timeout_s: float) -> type[TimedH11Protocol]:
    """The protocol class to hand uvicorn (`Config(http=...)`) for this deadline."""
    return type("TimedH11Protocol", (TimedH11Protocol,), {"request_timeout_s": request_timeout_s})


class TimedH11Protocol(H11Protocol):
    request_timeout_s = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout_s, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._disarm()  # the request is in: the app's answer is not on this clock

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
