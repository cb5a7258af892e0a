"""How much one address may ask of a server bound beyond loopback.

On the LAN, anyone who can reach the port can open connections, send offers and guess at
the token. Per address: at most `connections` open at once (more are closed as they
arrive), `offers_per_minute` call offers, and `failed_tokens` wrong tokens before a ban that
doubles with each new one (from `ban_s` up to `max_ban_s`). This machine's own loopback
addresses (the cockpit, a page opened here) are never limited, and a server bound to
loopback has no limits at all. Pure bookkeeping on an injected clock; the protocol, the
guard and the offer route ask it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["AddressLimits", "Limits"]

_OWN = ("127.0.0.1", "::1")
_MINUTE = 60.0


@dataclass(frozen=True)
class Limits:
    connections: int = 16
    offers_per_minute: int = 10
    failed_tokens: int = 5
    ban_s: float = 30.0
    max_ban_s: float = 600.0

    def describe(self) -> str:
        return (
            f"per address: {self.connections} connections at once, "
            f"{self.offers_per_minute} call offers a minute, {self.failed_tokens} wrong "
            f"tokens before a ban of {self.ban_s:g} s (doubling, up to {self.max_ban_s:g} s); "
            "this machine's own loopback unlimited"
        )


@dataclass
class _Address:
    open: int = 0
    offers: deque[float] = field(default_factory=deque)
    failed: int = 0  # wrong tokens since the last ban
    bans: int = 0
    banned_until: float = 0.0
    refused: int = 0  # connections, offers and tokens refused, for the cockpit
    capped: bool = False  # its connections passed the cap (told once)


class AddressLimits:
    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._seen: dict[str, _Address] = {}
        # told once per address, when its connections first pass the cap (log, cockpit)
        self.on_capped: Callable[[str, int], None] | None = None

    def _of(self, address: str) -> _Address:
        return self._seen.setdefault(address, _Address())

    @staticmethod
    def exempt(address: str | None) -> bool:
        return address is None or address in _OWN

    # -- connections ---------------------------------------------------------------------

    def connected(self, address: str | None) -> bool:
        """A connection opened: False if the address already has as many as it may."""
        if self.exempt(address):
            return True
        assert address is not None
        seen = self._of(address)
        if seen.open >= self.limits.connections:
            seen.refused += 1
            if not seen.capped and self.on_capped is not None:
                seen.capped = True
                self.on_capped(address, seen.open)
            return False
        seen.open += 1
        return True

    def closed(self, address: str | None) -> None:
        if not self.exempt(address) and address in self._seen:
            self._seen[address].open = max(0, self._seen[address].open - 1)

    # -- offers --------------------------------------------------------------------------

    def offer(self, address: str | None) -> float | None:
        """An offer: None if allowed, else the seconds until the next one may come."""
        if self.exempt(address):
            return None
        assert address is not None
        now, seen = self._clock(), self._of(address)
        while seen.offers and seen.offers[0] <= now - _MINUTE:
            seen.offers.popleft()
        if len(seen.offers) >= self.limits.offers_per_minute:
            seen.refused += 1
            return seen.offers[0] + _MINUTE - now
        seen.offers.append(now)
        return None

    # -- tokens --------------------------------------------------------------------------

    def banned_for(self, address: str | None) -> float | None:
        """Seconds the address is still banned for wrong tokens, or None."""
        if self.exempt(address) or address not in self._seen:
            return None
        left = self._seen[address].banned_until - self._clock()
        return left if left > 0 else None

    def token_failed(self, address: str | None) -> float | None:
        """A wrong token: the ban it starts (seconds), or None while under the limit."""
        if self.exempt(address):
            return None
        assert address is not None
        seen = self._of(address)
        seen.failed += 1
        seen.refused += 1
        if seen.failed < self.limits.failed_tokens:
            return None
        seen.failed = 0
        ban = min(self.limits.ban_s * 2**seen.bans, self.limits.max_ban_s)
        seen.bans += 1
        seen.banned_until = self._clock() + ban
        return ban

    def refused(self) -> dict[str, int]:
        """Refusals so far, by address (those with any)."""
        return {a: s.refused for a, s in self._seen.items() if s.refused}
