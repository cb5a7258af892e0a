"""pipecat's runner session start, so pipecat's own clients work against localagent unchanged.

pipecat's JS client (`startBotAndConnect`) and its prebuilt pages first `POST /start`
(`{"transport": "webrtc", "body": {...}}` → `{"sessionId": ...}`), then send the offer
and their ICE candidates to `/sessions/{sessionId}/api/offer`, with the `/start` body
handed to the bot as the request data. Same shapes as `pipecat/runner/run.py` (1.14);
the offer itself goes through localagent's own `/api/offer` checks and call limits.

`enableDefaultIceServers` is not honoured: pipecat answers it with Google's STUN server,
and a local-first page has no reason to tell Google it is making a call (on this machine
or a LAN, host candidates connect). `GET /status` answers as the runner's does.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict

from localagent.web.signalling import OfferBody, PatchBody

__all__ = ["StartedSessions", "add_runner_routes"]

UNUSED_TTL_S = 600.0  # a started session no offer or candidate has used for this long
MAX_SESSIONS = 100  # started and kept at once; the oldest go first


class StartBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    transport: str | None = None
    enableDefaultIceServers: bool = False  # noqa: N815 - pipecat's JSON spelling
    body: Any = None


class StartedSessions:
    """Sessions begun with `/start`: their id and the body their offer's bot is handed."""

    def __init__(self, ttl_s: float = UNUSED_TTL_S, limit: int = MAX_SESSIONS) -> None:
        self._ttl, self._limit = ttl_s, limit
        self._sessions: OrderedDict[str, tuple[Any, float]] = OrderedDict()

    def start(self, body: Any) -> str:
        self._expire()
        session_id = str(uuid.uuid4())
        self._sessions[session_id] = (body if body is not None else {}, time.monotonic())
        while len(self._sessions) > self._limit:
            self._sessions.popitem(last=False)
        return session_id

    def body(self, session_id: str) -> Any | None:
        """The session's `/start` body (None: unknown or expired); a use keeps it alive."""
        self._expire()
        if session_id not in self._sessions:
            return None
        body, _ = self._sessions.pop(session_id)
        self._sessions[session_id] = (body, time.monotonic())
        return body

    def __len__(self) -> int:
        return len(self._sessions)

    def _expire(self) -> None:
        now = time.monotonic()
        for session_id, (_, used) in list(self._sessions.items()):
            if now - used > self._ttl:
                del self._sessions[session_id]


def add_runner_routes(
    app: FastAPI,
    sessions: StartedSessions,
    *,
    offer: Callable[[OfferBody], Awaitable[dict[str, str]]],
    ice_candidates: Callable[[PatchBody], Awaitable[dict[str, str]]],
) -> None:
    """`offer` and `ice_candidates` are the server's own `/api/offer` POST and PATCH."""

    def known(session_id: str) -> Any:
        body = sessions.body(session_id)
        if body is None:
            # pipecat's runner's words, so its clients' handling applies.
            raise HTTPException(404, "Invalid or not-yet-ready session_id")
        return body

    @app.post("/start")
    async def start(request: StartBody) -> dict[str, Any]:
        transport = request.transport or "webrtc"
        if transport != "webrtc":
            raise HTTPException(
                400,
                f"Transport '{transport}' is not allowed. localagent serves 'webrtc' only "
                "(pipecat's SmallWebRTC, peer to peer with this machine).",
            )
        return {"sessionId": sessions.start(request.body)}

    @app.get("/status")
    async def status() -> dict[str, Any]:
        return {"status": "ready", "transports": ["webrtc"]}

    @app.post("/sessions/{session_id}/api/offer")
    async def session_offer(session_id: str, body: OfferBody) -> dict[str, str]:
        started = known(session_id)
        if body.request_data is None:  # the bot is handed the /start body, as pipecat does
            body = body.model_copy(update={"request_data": started})
        return await offer(body)

    @app.patch("/sessions/{session_id}/api/offer")
    async def session_candidates(session_id: str, body: PatchBody) -> dict[str, str]:
        known(session_id)
        return await ice_candidates(body)
