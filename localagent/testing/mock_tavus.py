"""A local stand-in for the Tavus v2 API, with faults on demand.

It serves what pipecat's Tavus client calls (create and end a conversation, get a persona)
plus get-replica, checks the `x-api-key` header, records every request, and can answer
with 401, 402 (out of credits), 429, 5xx or slowly. Point localagent at it with
`TAVUS_API_URL=http://127.0.0.1:PORT/v2`. Run it by hand:
`python -m localagent.testing.mock_tavus --port 8765 --api-key test-key`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from localagent.testing.in_thread import InThread

__all__ = ["Fault", "MockTavus", "RecordedRequest", "ThreadedMockTavus"]

_MESSAGES = {
    401: "Invalid access token",
    402: "You have run out of conversational credits. Please upgrade your plan.",
    404: "Not found",
    429: "Too many requests. Please slow down.",
    500: "Internal server error",
    503: "Service unavailable",
}


@dataclass(frozen=True)
class Fault:
    """The answer to give the next matching request instead of the real one."""

    status: int = 500
    delay_s: float = 0.0
    path_contains: str = ""  # empty: any endpoint


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    api_key: str | None
    body: Any
    at: float


@dataclass
class _Conversation:
    id: str
    replica_id: str
    persona_id: str
    status: str = "active"


@dataclass
class MockTavus:
    """A real aiohttp server on loopback; `async with MockTavus(api_key=...) as tavus`."""

    api_key: str = "test-tavus-key"
    replicas: tuple[str, ...] = ("r-test-replica",)
    room_url_base: str = ""  # default: a loopback URL on this server, never the internet
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[RecordedRequest] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    conversations: dict[str, _Conversation] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API base, as TAVUS_API_URL wants it."""
        return f"http://{self.host}:{self.port}/v2"

    async def start(self) -> MockTavus:
        app = web.Application(middlewares=[self._record_and_check])
        app.router.add_post("/v2/conversations", self._create)
        app.router.add_post("/v2/conversations/{cid}/end", self._end)
        app.router.add_get("/v2/conversations/{cid}", self._get_conversation)
        app.router.add_get("/v2/personas/{pid}", self._persona)
        app.router.add_get("/v2/replicas/{rid}", self._replica)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.room_url_base = self.room_url_base or f"http://{self.host}:{self.port}/rooms"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MockTavus:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- what tests look at ------------------------------------------------------------------

    def fail_next(
        self, status: int, times: int = 1, *, path_contains: str = "", delay_s: float = 0.0
    ) -> None:
        self.faults.extend([Fault(status, delay_s, path_contains)] * times)

    def open_conversation(self, replica_id: str = "r-test-replica") -> str:
        """Create an active conversation directly, as a crashed earlier run would have."""
        conversation = _Conversation(f"c{next(self._ids):04d}", replica_id, "pipecat0")
        self.conversations[conversation.id] = conversation
        return conversation.id

    @property
    def open_conversations(self) -> list[str]:
        return [c.id for c in self.conversations.values() if c.status == "active"]

    def calls(self, method: str, path_contains: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and path_contains in r.path]

    # -- handlers ----------------------------------------------------------------------------

    @web.middleware
    async def _record_and_check(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            with contextlib.suppress(ValueError):
                body = await request.json()
        key = request.headers.get("x-api-key")
        self.requests.append(
            RecordedRequest(request.method, request.path, key, body, time.monotonic())
        )
        fault = self._take_fault(request.path)
        if fault is not None:
            if fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            if fault.status < 400:  # a slow but otherwise normal answer
                return await handler(request)
            return _error(fault.status)
        if key != self.api_key:
            return _error(401)
        return await handler(request)

    def _take_fault(self, path: str) -> Fault | None:
        for fault in list(self.faults):
            if fault.path_contains in path:
                self.faults.remove(fault)
                return fault
        return None

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        replica_id = body.get("replica_id")
        if replica_id not in self.replicas:
            return web.json_response({"message": f"Replica {replica_id} not found"}, status=400)
        conversation = _Conversation(
            f"c{next(self._ids):04d}", replica_id, body.get("persona_id", "")
        )
        self.conversations[conversation.id] = conversation
        return web.json_response(self._describe(conversation))

    async def _end(self, request: web.Request) -> web.Response:
        conversation = self.conversations.get(request.match_info["cid"])
        if conversation is None:
            return _error(404)
        conversation.status = "ended"
        return web.json_response({})

    async def _get_conversation(self, request: web.Request) -> web.Response:
        conversation = self.conversations.get(request.match_info["cid"])
        if conversation is None:
            return _error(404)
        return web.json_response(self._describe(conversation))

    async def _persona(self, request: web.Request) -> web.Response:
        pid = request.match_info["pid"]
        return web.json_response({"persona_id": pid, "persona_name": f"Mock persona {pid}"})

    async def _replica(self, request: web.Request) -> web.Response:
        rid = request.match_info["rid"]
        if rid not in self.replicas:
            return _error(404)
        return web.json_response(
            {"replica_id": rid, "replica_name": "Mock replica", "status": "completed"}
        )

    def _describe(self, c: _Conversation) -> dict[str, Any]:
        return {
            "conversation_id": c.id,
            "conversation_name": f"localagent {c.id}",
            "conversation_url": f"{self.room_url_base}/{c.id}",
            "status": c.status,
            "replica_id": c.replica_id,
            "persona_id": c.persona_id,
        }


def _error(status: int) -> web.Response:
    return web.json_response({"message": _MESSAGES.get(status, "error")}, status=status)


async def _serve(args: argparse.Namespace) -> None:
    tavus = await MockTavus(api_key=args.api_key, host=args.host, port=args.port).start()
    print(f"mock Tavus API at {tavus.url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await tavus.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="A local stand-in for the Tavus v2 API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default="test-tavus-key")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()


class ThreadedMockTavus(InThread[MockTavus]):
    """A MockTavus on its own loop in a thread (see InThread)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(lambda: MockTavus(**kwargs))
