"""Run a loopback test server on its own event loop in a thread.

Tests, the app under test and the server then never share a loop, so a server fixture can
outlive one test's loop and serve a subprocess while the test awaits something else.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["InThread"]


class _Server(Protocol):
    @property
    def url(self) -> str: ...

    async def start(self) -> Any: ...

    async def stop(self) -> None: ...


S = TypeVar("S", bound=_Server)


class InThread(Generic[S]):
    def __init__(self, factory: Callable[[], S]) -> None:
        self._factory = factory
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="test-server"
        )
        self.server: S

    def call(self, coro: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __enter__(self) -> InThread[S]:
        self._thread.start()
        self.server = self._factory()
        self.call(self.server.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.call(self.server.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def url(self) -> str:
        return self.server.url
