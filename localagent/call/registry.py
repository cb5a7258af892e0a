"""The server's calls: admitted against the limit atomically, removed exactly once.

The limit is checked and the call registered in one step, before anything is awaited, so
offers that arrive together cannot all pass the check before any of them is counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

from localagent.call.call import Call
from localagent.memory import release_memory

__all__ = ["CallLimitReached", "CallRegistry"]


class CallLimitReached(Exception):
    def __init__(self, live: int, limit: int) -> None:
        super().__init__(
            f"Already {live} call(s) in progress, the maximum "
            f"(LOCALAGENT_MAX_SESSIONS={limit}). Hang up one first."
        )


class CallRegistry:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._calls: dict[str, Call] = {}

    def __iter__(self) -> Iterator[Call]:
        return iter(list(self._calls.values()))

    def __len__(self) -> int:
        return len(self._calls)

    def live(self) -> list[Call]:
        """Calls that hold a slot: connecting or connected, not yet ending."""
        return [c for c in self._calls.values() if not c.ending]

    def admit(self, make: Callable[[Callable[[Call], None]], Call]) -> Call:
        """A new call from `make(on_end)`, or CallLimitReached. Never awaits."""
        live = len(self.live())
        if live >= self.limit:
            raise CallLimitReached(live, self.limit)
        call = make(self._remove)
        self._calls[call.id] = call
        return call

    def by_pc_id(self, pc_id: str) -> Call | None:
        return next((c for c in self._calls.values() if c.pc_id == pc_id), None)

    def newest_live(self) -> Call | None:
        live = [c for c in self.live() if c.state == "live"]
        return max(live, key=lambda c: c.created_at) if live else None

    def _remove(self, call: Call) -> None:
        self._calls.pop(call.id, None)
        if not self._calls:
            release_memory()  # the last call's pipeline is garbage now; give it back

    async def close_all(self, reason: str) -> None:
        """End every call (shutdown); each ends within its own bounded teardown."""
        calls = list(self._calls.values())
        if calls:
            await asyncio.gather(*(c.hang_up(reason) for c in calls), return_exceptions=True)
