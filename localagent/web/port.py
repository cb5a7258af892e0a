"""Whether the server's port is free: asked at start-up and by `doctor` (no server needed)."""

from __future__ import annotations

import errno
import socket

from localagent.errors import ConfigError

__all__ = ["check_port_free"]


def check_port_free(host: str, port: int) -> None:
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"Port {port} on {host} is already in use (another localagent?).",
                    "stop the other program or pick another port with --port",
                ) from None
            raise ConfigError(f"Cannot bind {host}:{port}: {e.strerror}.", "check --host") from None
