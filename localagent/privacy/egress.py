"""The privacy guard: what this process may connect to, enforced at the socket layer.

Policy: loopback always; the Tavus API (and Daily's hosts) only while the Tavus avatar is
on; a non-loopback OLLAMA_HOST the user chose; nothing else. `--offline` allows no
non-loopback destination at all.

Two hooks enforce it for every connection made from Python code (aiohttp, httpx, the
OpenAI client, aioice):
- `socket.getaddrinfo` is wrapped, so a host name that is not allowed is refused before
  any DNS query leaves, and resolved addresses are remembered with their names;
- an audit hook on `socket.connect` checks the destination address (by the name it was
  resolved from) and raises `EgressBlocked`, a PermissionError, before the connect.

Every non-loopback connection, allowed or blocked, is published as `EgressSeen` and
counted; a blocked one is also logged with its destination.

What it cannot see: sockets opened by native code that does not go through Python's
`socket` module. daily-python (Tavus's video room, only used when the Tavus avatar is on)
runs its signalling and media in Rust/C; the guard neither sees nor blocks those.
WebRTC media to the browser goes over UDP `sendto`, not `connect`, and stays on the
addresses the browser offered.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from loguru import logger

from localagent.errors import ConfigError
from localagent.events import EgressSeen, EventBus
from localagent.settings import Settings

__all__ = [
    "NO_TELEMETRY_ENV",
    "EgressBlocked",
    "USER_SET_ENV",
    "EgressPolicy",
    "egress_counts",
    "install_egress_guard",
    "policy_for",
    "quiet_library_telemetry",
]

# Switches that keep the model libraries from phoning home or fetching weights.
NO_TELEMETRY_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "ANONYMIZED_TELEMETRY": "False",
}


# The switches as the user set them before localagent set its defaults (e.g. whether
# HF_HUB_OFFLINE is the user's wish or ours).
USER_SET_ENV: dict[str, str] = {}


# The switches that keep the hub client offline (huggingface_hub reads either): left off
# for the one command that downloads, and only when asked (`models pull`).
HUB_OFFLINE = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def quiet_library_telemetry(*, downloads: bool = False) -> None:
    """Set the libraries' offline and no-telemetry switches, unless the user set them;
    `downloads`: the models command, which fetches what the user names, stays online."""
    for name, value in NO_TELEMETRY_ENV.items():
        if name in os.environ:
            USER_SET_ENV.setdefault(name, os.environ[name])
        if downloads and name in HUB_OFFLINE:
            continue
        os.environ.setdefault(name, value)


class EgressBlocked(PermissionError):
    """A connection the egress policy refused."""


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%")[0].strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class EgressPolicy:
    """Which non-loopback destinations are allowed, by host name, address or domain."""

    allowed: Mapping[str, str] = field(default_factory=dict)  # host or IP -> purpose
    allowed_domains: Mapping[str, str] = field(default_factory=dict)  # "daily.co" -> purpose
    offline: bool = False
    # Loopback addresses to treat as remote, so tests can exercise the policy on loopback.
    remote_loopback: frozenset[str] = frozenset()

    def is_local(self, host: str) -> bool:
        name = host.strip("[]").lower()
        if name in self.remote_loopback:
            return False
        if name in ("localhost", "") or name.endswith(".localhost"):
            return True
        if name.endswith(".local"):
            return True  # mDNS: browsers may name their WebRTC host candidates so
        ip = _ip(name)
        return ip is not None and (ip.is_loopback or ip.is_unspecified)

    def check(self, host: str, name: str | None = None) -> tuple[bool, str]:
        """(allowed, purpose or reason) for a destination and the name it came from."""
        if self.offline:
            return False, "blocked: --offline allows no connection off this machine"
        for candidate in (name, host):
            if not candidate:
                continue
            candidate = candidate.lower().strip("[]")
            if candidate in self.allowed:
                return True, self.allowed[candidate]
            for domain, purpose in self.allowed_domains.items():
                if candidate == domain or candidate.endswith("." + domain):
                    return True, purpose
        return False, "blocked: not in the egress policy"


def policy_for(settings: Settings) -> EgressPolicy:
    """The policy a run's settings imply; impossible combinations are a ConfigError."""
    allowed: dict[str, str] = {}
    domains: dict[str, str] = {}
    ollama = urlsplit(settings.ollama_host).hostname or ""
    local = EgressPolicy()
    if not local.is_local(ollama):
        if settings.offline:
            raise ConfigError(
                f"--offline allows no connection off this machine, but OLLAMA_HOST is "
                f"{settings.ollama_host}.",
                "run Ollama on this machine, or drop --offline",
            )
        allowed[ollama.lower()] = "Ollama (OLLAMA_HOST)"
    for what, url in (
        ("STT server (--stt-url)", settings.stt_url),
        ("LLM server (--llm-url)", settings.llm_url),
        ("TTS server (--tts-url)", settings.tts_url),
    ):
        host = (urlsplit(url).hostname or "") if url else ""
        if not host or local.is_local(host):
            continue
        if settings.offline:
            raise ConfigError(
                f"--offline allows no connection off this machine, but the {what} is {url}.",
                "run that server on this machine, or drop --offline",
            )
        allowed[host.lower()] = what
    if settings.wants_tavus():
        if settings.offline:
            raise ConfigError(
                "--offline and the Tavus avatar cannot go together: Tavus renders in the cloud.",
                "use --avatar local with --offline",
            )
        tavus = urlsplit(settings.tavus_api_url).hostname or ""
        allowed[tavus.lower()] = "Tavus API"
        domains["daily.co"] = "Daily (Tavus video room)"
    return EgressPolicy(allowed=allowed, allowed_domains=domains, offline=settings.offline)


class _Guard:
    """Process-wide state: audit hooks cannot be removed, so they consult this."""

    def __init__(self) -> None:
        self.policy: EgressPolicy | None = None
        self.bus: EventBus | None = None
        self.names: dict[str, str] = {}  # resolved address -> the name asked for
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.installed = False

    def remember(self, name: str, infos: list[Any]) -> None:
        with self.lock:
            if len(self.names) > 4096:
                self.names.clear()
            for info in infos:
                self.names[str(info[4][0])] = name

    def report(self, host: str, port: int, name: str | None, allowed: bool, why: str) -> None:
        with self.lock:
            self.counts["allowed" if allowed else "blocked"] += 1
        shown = f"{name} ({host})" if name and name != host else host
        if not allowed:
            logger.warning(f"egress {why}: {shown}:{port}")
        if self.bus is not None:
            self.bus.publish(EgressSeen("", host=shown, port=port, allowed=allowed, purpose=why))


_guard = _Guard()
_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    policy = _guard.policy
    name = host.decode() if isinstance(host, bytes) else host
    if policy is None or not isinstance(name, str) or _ip(name) is not None:
        return _real_getaddrinfo(host, port, *args, **kwargs)
    if not policy.is_local(name):
        allowed, why = policy.check(name, name)
        if not allowed:
            _guard.report(name, int(port or 0) if str(port).isdigit() else 0, name, False, why)
            raise EgressBlocked(f"egress {why}: {name}")
    infos = _real_getaddrinfo(host, port, *args, **kwargs)
    _guard.remember(name, infos)
    return infos


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect":
        return
    policy = _guard.policy
    address = args[1] if len(args) > 1 else None
    if policy is None or not isinstance(address, tuple) or len(address) < 2:
        return  # no policy yet, or a unix socket
    host, port = str(address[0]), int(address[1])
    if policy.is_local(host):
        return
    name = _guard.names.get(host)
    allowed, why = policy.check(host, name)
    _guard.report(host, port, name, allowed, why)
    if not allowed:
        raise EgressBlocked(f"egress {why}: {name or host}:{port}")


def install_egress_guard(policy: EgressPolicy | None, bus: EventBus | None = None) -> None:
    """Enforce `policy` for the rest of the process (None turns enforcement off)."""
    _guard.policy, _guard.bus = policy, bus
    if not _guard.installed:
        _guard.installed = True
        socket.getaddrinfo = _getaddrinfo
        sys.addaudithook(_audit)


def egress_counts() -> dict[str, int]:
    """Non-loopback connections allowed and blocked since the process started."""
    with _guard.lock:
        return {"allowed": _guard.counts["allowed"], "blocked": _guard.counts["blocked"]}
