"""Raw sockets from chosen loopback addresses, for probing a server as other machines would:
127.0.0.0/8 is all this machine, so each address stands for a different client."""

from __future__ import annotations

import socket
import ssl
import time

__all__ = ["open_from", "until_closed"]


def open_from(source: str, port: int) -> socket.socket:
    """A TCP connection to 127.0.0.1:`port` from `source` (e.g. 127.0.0.2), non-blocking."""
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def until_closed(socks: list[socket.socket], limit_s: float) -> list[float]:
    """Seconds until the server closed each socket, polled for at most `limit_s` (inf for
    one still open then); every socket is closed on return."""
    started, closed = time.monotonic(), [float("inf")] * len(socks)
    while time.monotonic() - started < limit_s and float("inf") in closed:
        for i, s in enumerate(socks):
            if closed[i] != float("inf"):
                continue
            try:
                if s.recv(1024) == b"":
                    closed[i] = time.monotonic() - started
            except (BlockingIOError, ssl.SSLWantReadError):
                pass  # nothing to read yet (a TLS socket says so with its own error)
            except OSError:
                closed[i] = time.monotonic() - started
        time.sleep(0.02)
    for s in socks:
        s.close()
    return closed
