"""The cockpit's event stream: how `python -m localagent tui` attaches to a running server.

The server keeps the recent events and log lines in memory and streams them, then every
new one, as server-sent events at `GET /api/cockpit/events`; `POST /api/cockpit/ACTION`
does what the TUI's keys do. Both need the per-run cockpit token, on loopback too (any
local user could otherwise read transcripts). The token and the URL are in
`<data dir>/cockpit.json`, readable by this user only, written once the server listens
and removed when it stops, so only the user running the server can attach.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse
from loguru import logger

from localagent.events import CallActivity, Event, EventBus, event_to_dict

__all__ = [
    "COCKPIT_FILE",
    "TOKEN_HEADER",
    "CockpitFeed",
    "CockpitInfo",
    "add_cockpit_routes",
    "read_cockpit_file",
    "remove_cockpit_file",
    "write_cockpit_file",
]

COCKPIT_FILE = "cockpit.json"
TOKEN_HEADER = "x-localagent-cockpit"
HISTORY = 5000  # events and log lines kept for a cockpit that attaches late
HEARTBEAT_S = 10.0


@dataclass(frozen=True)
class CockpitInfo:
    url: str
    token: str
    pid: int
    page_token: str | None = None  # the page's token, when the server asks for one
    tls_cert: str | None = None  # the server's certificate, pinned by the cockpit


def write_cockpit_file(data_dir: Path, info: CockpitInfo) -> Path:
    path = data_dir / COCKPIT_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info.__dict__, f)
    os.chmod(path, 0o600)  # an older file may have had other rights
    return path


def read_cockpit_file(data_dir: Path) -> CockpitInfo | None:
    try:
        data = json.loads((data_dir / COCKPIT_FILE).read_text())
        return CockpitInfo(**data)
    except (OSError, ValueError, TypeError):
        return None


def remove_cockpit_file(data_dir: Path, token: str) -> None:
    """Remove it if it is still this server's (a second server may have written its own)."""
    info = read_cockpit_file(data_dir)
    if info is not None and info.token == token:
        with contextlib.suppress(OSError):
            (data_dir / COCKPIT_FILE).unlink()


class CockpitFeed:
    """Every bus event and log line, numbered, kept for a while and fanned out to cockpits."""

    def __init__(self, bus: EventBus, history: int = HISTORY) -> None:
        self._recent: deque[dict[str, Any]] = deque(maxlen=history)
        self._queues: set[asyncio.Queue[dict[str, Any]]] = set()
        self._seq = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe = bus.subscribe(self._event)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    def close(self) -> None:
        self._unsubscribe()

    def _event(self, event: Event) -> None:
        # The meters are live only: a late cockpit does not need minutes of them, and with
        # no cockpit attached they are not even serialized.
        keep = not isinstance(event, CallActivity)
        if keep or self._queues:
            self._add({"type": "event", "event": event_to_dict(event)}, keep=keep)

    def log(self, message: Any) -> None:
        """A loguru sink: the cockpit's log panel."""
        from localagent.tui.messages import log_line

        text, level = log_line(message.record)
        self._add({"type": "log", "text": text, "level": level}, keep=True)

    def _add(self, item: dict[str, Any], *, keep: bool) -> None:
        with self._lock:  # the bus may publish from another thread
            self._seq += 1
            item = {"seq": self._seq, **item}
            if keep:
                self._recent.append(item)
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for queue in list(self._queues):
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_offer, queue, item)

    async def follow(
        self, after: int, idle_s: float = HEARTBEAT_S
    ) -> AsyncIterator[dict[str, Any] | None]:
        """What was kept after `after`, then each new item as it comes; None after each
        `idle_s` with nothing new (the stream's heartbeat)."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=HISTORY)
        with self._lock:
            backlog = [i for i in self._recent if i["seq"] > after]
            self._queues.add(queue)
        try:
            last = after
            for item in backlog:
                last = item["seq"]
                yield item
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), idle_s)
                except TimeoutError:
                    yield None
                    continue
                if item["seq"] > last:
                    last = item["seq"]
                    yield item
        finally:
            self._queues.discard(queue)


def _offer(queue: asyncio.Queue[dict[str, Any]], item: dict[str, Any]) -> None:
    with contextlib.suppress(asyncio.QueueFull):  # a cockpit that stopped reading
        queue.put_nowait(item)


def add_cockpit_routes(app: FastAPI, state: Any, feed: CockpitFeed) -> None:
    """The stream and the keys; `state` is the server's AppState."""

    def check(request: Request) -> None:
        offered = request.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(offered.encode(), state.cockpit_token.encode()):
            raise HTTPException(
                401, "The cockpit needs this server's cockpit token (python -m localagent tui)."
            )

    @app.get("/api/cockpit/hello")
    async def hello(request: Request) -> dict[str, Any]:
        check(request)
        from localagent.controls import AppControls

        controls = AppControls(state)
        return {
            "services": controls.services(),
            "fixes": controls.fixes(),
            "flow": list(controls.current_flow()),
            "flows": controls.flow_names(),
        }

    @app.get("/api/cockpit/events")
    async def events(request: Request, after: int = 0) -> StreamingResponse:
        check(request)

        async def stream() -> AsyncIterator[bytes]:
            async for item in feed.follow(after):
                if item is None:
                    yield b": ping\n\n"  # keeps proxies and dead peers honest
                else:
                    yield f"data: {json.dumps(item, default=str)}\n\n".encode()

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.post("/api/cockpit/{action}")
    async def act(request: Request, action: str) -> dict[str, Any]:
        check(request)
        from localagent.controls import AppControls
        from localagent.errors import LocalAgentError

        controls = AppControls(state)
        body = await request.json()
        if action == "hang-up":
            return {"ok": await controls.hang_up()}
        if action == "restart-flow":
            return {"ok": await controls.restart_flow()}
        if action == "mute-bot":
            muted = await controls.toggle_bot_mute()
            return {"ok": muted is not None, "muted": muted}
        if action == "switch-flow":
            try:
                return {"ok": True, "flow": list(await controls.switch_flow(str(body["name"])))}
            except (LocalAgentError, KeyError) as e:
                return {"ok": False, "error": str(e)}
        raise HTTPException(404, f"No cockpit action '{action}'.")

    logger.debug("cockpit stream at /api/cockpit/events")
