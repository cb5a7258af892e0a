"""The cockpit attached to a server already running on this machine (`localagent tui`).

The server may run under a process manager (`--no-tui`); the cockpit comes and goes. It
reads the server's address and cockpit token from `<data dir>/cockpit.json`, shows what
the server kept of the recent past, then follows its event stream; the keys go back over
HTTP. If the stream drops the cockpit says so and retries, asking only for what it has not
seen. A restarted server is a new run with a new token: the cockpit keeps failing with
the old one (and says so) until it is started again. Quitting it leaves the server running.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from loguru import logger

from localagent.events import EventBus, event_from_dict
from localagent.tui.app import LocalAgentApp
from localagent.tui.messages import LogLine
from localagent.web.cockpit import TOKEN_HEADER, CockpitInfo

__all__ = [
    "AttachError",
    "RemoteControls",
    "attached_app",
    "cockpit_headers",
    "cockpit_ssl",
    "hello",
]

RETRY_S = 2.0


class AttachError(Exception):
    """No server to attach to, or it refused: the message says what to do."""


def cockpit_ssl(info: CockpitInfo) -> ssl.SSLContext | bool:
    """HTTPS to this machine's server: its own certificate pinned (self-signed or not, and
    named for the LAN rather than for the loopback address the cockpit uses)."""
    if info.tls_cert is None:
        return True
    context = ssl.create_default_context(cafile=info.tls_cert)
    context.check_hostname = False  # the pinned certificate is the check
    return context


def cockpit_headers(info: CockpitInfo) -> dict[str, str]:
    """What every request to the server carries: the cockpit token, the page's if any."""
    headers = {TOKEN_HEADER: info.token}
    if info.page_token:
        headers["Authorization"] = f"Bearer {info.page_token}"
    return headers


async def hello(http: aiohttp.ClientSession, info: CockpitInfo) -> dict[str, Any]:
    """The server's services and flow, or AttachError with the reason."""
    try:
        async with http.get(f"{info.url}api/cockpit/hello", timeout=aiohttp.ClientTimeout(5)) as r:
            if r.status == 401:
                raise AttachError(
                    "The server refused the cockpit token: cockpit.json is from another run."
                )
            r.raise_for_status()
            return dict(await r.json())
    except aiohttp.ClientConnectorCertificateError as e:
        raise AttachError(
            f"The server at {info.url} is not using the certificate in cockpit.json "
            f"({info.tls_cert}): another server took its address? Restart localagent."
        ) from e
    except (aiohttp.ClientError, TimeoutError) as e:
        raise AttachError(
            f"No localagent server answers at {info.url} ({type(e).__name__}); "
            "start one with `python -m localagent --no-tui` (or without --no-tui)."
        ) from e


class RemoteControls:
    """The TUI's keys, done by the server it is attached to."""

    def __init__(self, http: aiohttp.ClientSession, info: CockpitInfo, greeting: dict[str, Any]):
        self._http, self._info = http, info
        self._flows: list[str] = list(greeting.get("flows", []))
        name, nodes = greeting.get("flow", ["?", []])
        self._flow: tuple[str, list[str]] = (str(name), list(nodes))

    async def _post(self, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        async with self._http.post(f"{self._info.url}api/cockpit/{action}", json=body or {}) as r:
            r.raise_for_status()
            return dict(await r.json())

    def flow_names(self) -> list[str]:
        return self._flows

    def current_flow(self) -> tuple[str, list[str]]:
        return self._flow

    async def switch_flow(self, name: str) -> tuple[str, list[str]]:
        answer = await self._post("switch-flow", {"name": name})
        if not answer.get("ok"):
            raise ValueError(answer.get("error", "the server could not load that flow"))
        flow_name, nodes = answer["flow"]
        self._flow = (str(flow_name), list(nodes))
        return self._flow

    async def restart_flow(self) -> bool:
        return bool((await self._post("restart-flow")).get("ok"))

    async def hang_up(self) -> bool:
        return bool((await self._post("hang-up")).get("ok"))

    async def toggle_bot_mute(self) -> bool | None:
        answer = await self._post("mute-bot")
        return answer.get("muted") if answer.get("ok") else None


async def _items(http: aiohttp.ClientSession, info: CockpitInfo, after: int) -> AsyncIterator[Any]:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=30)
    url = f"{info.url}api/cockpit/events?after={after}"
    async with http.get(url, timeout=timeout) as r:
        r.raise_for_status()
        async for raw in r.content:
            line = raw.decode("utf-8", "replace").strip()
            if line.startswith("data: "):
                yield json.loads(line[6:])


def attached_app(
    http: aiohttp.ClientSession, info: CockpitInfo, greeting: dict[str, Any]
) -> LocalAgentApp:
    bus = EventBus()
    seen = 0

    async def follow() -> None:
        nonlocal seen
        lost = False
        while True:
            try:
                async for item in _items(http, info, seen):
                    if lost:
                        app.notify("The server is back; following it again.")
                        lost = False
                    seen = max(seen, int(item["seq"]))
                    if item["type"] == "log":
                        app.post_message(LogLine(item["text"], item["level"]))
                    elif (event := event_from_dict(item["event"])) is not None:
                        bus.publish(event)
            except (aiohttp.ClientError, TimeoutError, ValueError) as e:
                logger.debug(f"cockpit stream: {e}")
            if not lost:
                app.notify(
                    f"Lost the server at {info.url}; retrying every {RETRY_S:.0f} s.",
                    severity="warning",
                    timeout=6,
                )
                lost = True
            await asyncio.sleep(RETRY_S)

    app = LocalAgentApp(
        url=info.url,
        bus=bus,
        controls=RemoteControls(http, info, greeting),
        services=dict(greeting.get("services", {})),
        fixes=dict(greeting.get("fixes", {})),
        serve=follow,
        attached=True,
    )
    return app
