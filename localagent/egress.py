"""Seeing every outbound connection the Python process makes.

An audit hook on `socket.connect` sees connections opened from Python code (aiohttp,
httpx, the OpenAI client, aioice for WebRTC): loopback ones are ignored, others are
published on the bus as `EgressSeen`. Native libraries that open sockets in C or Rust
(daily-python's media and signalling, which only run when the Tavus avatar is on) are not
visible to it. This counts; it does not block.
"""

from __future__ import annotations

import ipaddress
import sys
from typing import Any

from localagent.events import EgressSeen, EventBus

__all__ = ["watch_egress"]

_target: dict[str, Any] = {"bus": None, "tavus": False}


def _is_local(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _hook(event: str, args: tuple[Any, ...]) -> None:
    bus = _target["bus"]
    if event != "socket.connect" or bus is None:
        return
    address = args[1] if len(args) > 1 else None
    if not isinstance(address, tuple) or len(address) < 2:
        return  # unix sockets and the like
    host, port = str(address[0]), int(address[1])
    if _is_local(host):
        return
    # The hook sees resolved addresses, not host names, so it cannot tell Tavus's API from
    # anything else: with the Tavus avatar on, outbound connections are expected (and
    # labelled so); with it off, every one is unexpected.
    tavus = bool(_target["tavus"])
    bus.publish(
        EgressSeen(
            "",
            host=host,
            port=port,
            allowed=tavus,
            purpose="Tavus avatar on" if tavus else "unexpected",
        )
    )


def watch_egress(bus: EventBus, *, tavus_enabled: bool) -> None:
    """Publish non-loopback connections on `bus`. Audit hooks cannot be removed, so the
    hook is installed once per process; later calls retarget it."""
    first = _target["bus"] is None
    _target.update(bus=bus, tavus=tavus_enabled)
    if first:
        sys.addaudithook(_hook)
