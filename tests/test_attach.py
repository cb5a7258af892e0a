"""`python -m localagent tui`: the cockpit attached to a running server over its stream."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from localagent.events import ServiceHealth
from localagent.settings import Settings
from localagent.startup import build_state, make_server, publish_cockpit
from localagent.testing.app_process import fetch_status, run_app
from localagent.testing.caller import Caller
from localagent.testing.fake_ollama import Reply, ThreadedFakeOllama, ToolCall
from localagent.testing.portraits import astronaut
from localagent.testing.terminal import Tmux
from localagent.tui.attach import AttachError, attached_app, cockpit_headers, cockpit_ssl, hello
from localagent.tui.llm_panel import LLMPanel
from localagent.tui.panels import FlowPanel
from localagent.web.cockpit import (
    COCKPIT_FILE,
    TOKEN_HEADER,
    read_cockpit_file,
    remove_cockpit_file,
)


@asynccontextmanager
async def _server(settings: Settings) -> AsyncIterator[Any]:
    """The server alone, as under a process manager: no TUI in its process."""
    state, recorder = await build_state(settings)
    server, url = make_server(state)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    publish_cockpit(state, url())
    try:
        yield state, url()
    finally:
        server.should_exit = True
        await task
        remove_cockpit_file(settings.data_dir, state.cockpit_token)
        if recorder is not None:
            recorder.close()


async def test_an_attached_cockpit_follows_a_call_and_its_keys_act_on_it(
    fake_ollama: ThreadedFakeOllama, printer_utterance: np.ndarray, tmp_path: Path
) -> None:
    fake_ollama.server.replies.extend(
        [
            Reply(text="Hi, I am Ada from the help desk. What can I do for you?"),
            Reply(tool_calls=(ToolCall("record_issue", {"summary": "printer will not print"}),)),
            Reply(text="Try switching the printer off and on again."),
        ]
    )
    settings = Settings(port=0, ollama_host=fake_ollama.url, data_dir=tmp_path, avatar="local")
    async with _server(settings) as (state, url):
        info = read_cockpit_file(tmp_path)
        assert info is not None and url.startswith(info.url)
        assert stat.S_IMODE((tmp_path / COCKPIT_FILE).stat().st_mode) == 0o600
        async with aiohttp.ClientSession(headers=cockpit_headers(info)) as http:
            greeting = await hello(http, info)
            assert greeting["flow"][0] == "helpdesk" and "LLM" in greeting["services"]
            async with Caller(url.rstrip("/")) as caller:
                # The greeting is spoken before the cockpit attaches: it comes from history.
                await caller.wait_for_voice(since=0.0, timeout=60)
                await caller.wait_for_silence(quiet_s=1.0, timeout=30)
                app = attached_app(http, info, greeting)
                async with app.run_test(size=(120, 40)) as pilot:
                    ended = await caller.say(printer_utterance)
                    await caller.wait_for_voice(since=ended + 0.05, timeout=60)
                    await caller.wait_for_silence(quiet_s=1.0, timeout=30)
                    await pilot.pause(0.5)
                    transcript = "\n".join(
                        s.text
                        for s in app.query_one("#transcript").lines  # type: ignore[attr-defined]
                    )
                    assert "Ada from the help desk" in transcript and "printer" in transcript
                    flow = app.query_one(FlowPanel)
                    assert flow.path == ["greet", "help"] and flow.last_call is not None
                    llm = app.query_one(LLMPanel)
                    assert any(r.exchange.tool_calls for r in llm.rows)
                    assert "attached" in str(app.query_one("#url").render())
                    await pilot.press("l")  # the log panel: the server's lines, streamed
                    await pilot.pause(0.3)
                    log = app.query_one("#log")
                    assert "session" in "\n".join(s.text for s in log.lines)  # type: ignore[attr-defined]
                    # m and h act on the server's live call.
                    [call] = state.calls.live()
                    await pilot.press("m")
                    await pilot.pause(0.3)
                    assert call.bot_muted
                    await pilot.press("h")
                    for _ in range(100):
                        if call.state == "ended":
                            break
                        await pilot.pause(0.1)
                    assert call.end_reason == "hung up from the TUI"
                    # q leaves the cockpit, not the server.
                    await pilot.press("q")
                    await pilot.pause(0.3)
            status = await (await http.get(f"{info.url}api/status")).json()
            assert status["flow"] == "helpdesk"


async def test_the_stream_and_the_keys_need_the_cockpit_token(
    fake_ollama: ThreadedFakeOllama, tmp_path: Path
) -> None:
    settings = Settings(port=0, ollama_host=fake_ollama.url, data_dir=tmp_path, avatar="local")
    async with _server(settings) as (state, _url):
        info = read_cockpit_file(tmp_path)
        assert info is not None
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {TOKEN_HEADER: "not-it"}):
                for method, path in (("GET", "events"), ("GET", "hello"), ("POST", "hang-up")):
                    async with http.request(
                        method, f"{info.url}api/cockpit/{path}", headers=headers, json={}
                    ) as r:
                        assert r.status == 401, (method, path, r.status)
                        assert "cockpit token" in (await r.json())["detail"]
            # With it: the backlog first (the server's start is in its log), then live.
            async with http.get(
                f"{info.url}api/cockpit/events",
                headers={TOKEN_HEADER: info.token},
                timeout=aiohttp.ClientTimeout(total=10),
            ) as r:
                assert r.headers["content-type"].startswith("text/event-stream")
                state.runtime.bus.publish(  # a bus event arrives as it happens
                    ServiceHealth("", service="LLM", ok=False, detail="DOWN", fix="start ollama")
                )
                seen: list[dict[str, Any]] = []
                async for raw in r.content:
                    if raw.startswith(b"data: "):
                        seen.append(json.loads(raw[6:]))
                        if seen[-1].get("event", {}).get("kind") == "ServiceHealth":
                            break
                seqs = [s["seq"] for s in seen]
                assert seqs == sorted(seqs) and seen[-1]["event"]["fix"] == "start ollama"
    assert not (tmp_path / COCKPIT_FILE).exists()  # removed when the server stopped


def test_localagent_tui_in_a_terminal_attaches_and_leaves_the_server_up(
    fake_ollama: ThreadedFakeOllama, tmp_path: Path
) -> None:
    env = {"LOCALAGENT_DATA_DIR": str(tmp_path)}
    with run_app("--ollama-host", fake_ollama.url, "--avatar", "local", env=env) as server:
        assert server.url, server.output
        command = f"LOCALAGENT_DATA_DIR={tmp_path} {sys.executable} -m localagent tui"
        with Tmux(command) as terminal:
            screen = terminal.wait_for(lambda s: "attached" in s and "helpdesk" in s)
            assert "attached: q leaves the server running" in screen, screen
            assert server.url.split("?")[0].rstrip("/") in screen and "helpdesk" in screen
            terminal.keys("q")
            assert terminal.wait_gone(), "the cockpit still running after q"
            assert server.proc.poll() is None  # the server is still up
            assert fetch_status(server.url)["flow"] == "helpdesk"


def test_localagent_tui_without_a_server_says_how_to_start_one(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "localagent", "tui"],
        env={**os.environ, "LOCALAGENT_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "python -m localagent --no-tui" in done.stderr, done.stderr


async def test_a_face_chosen_on_the_page_reaches_the_services_panel(
    fake_ollama: ThreadedFakeOllama, tmp_path: Path
) -> None:
    photo = astronaut(tmp_path)
    settings = Settings(
        port=0, ollama_host=fake_ollama.url, data_dir=tmp_path / "data", avatar="local"
    )
    async with _server(settings) as (state, url):
        seen: list[ServiceHealth] = []
        state.runtime.bus.subscribe(
            lambda e: seen.append(e) if isinstance(e, ServiceHealth) else None
        )
        async with aiohttp.ClientSession() as http:
            for method, body in (("POST", photo.read_bytes()), ("DELETE", None)):
                async with http.request(
                    method,
                    url.rstrip("/") + "/api/avatar-image",
                    data=body,
                    headers={"Content-Type": "image/png"},
                ) as r:
                    assert r.status == 200, await r.text()
        chosen, forgotten = [e.detail for e in seen if e.service == "avatar"]
        assert "portrait" in chosen and chosen.startswith("local")
        assert forgotten.endswith("drawn face")


async def test_the_cockpit_attaches_over_https_with_the_servers_certificate_pinned(
    fake_ollama: ThreadedFakeOllama, tmp_path: Path
) -> None:
    """Bound beyond loopback the server is HTTPS only, with a self-signed certificate: the
    cockpit trusts exactly that one (from cockpit.json), and no other."""
    from localagent.web.tls import ensure_self_signed

    settings = Settings(
        host="0.0.0.0", port=0, ollama_host=fake_ollama.url, data_dir=tmp_path, avatar="local"
    )
    async with _server(settings) as (_state, url):
        info = read_cockpit_file(tmp_path)
        assert info is not None and url.startswith("https://") and info.tls_cert
        assert info.page_token  # beyond loopback the page's token is needed too
        pinned = aiohttp.TCPConnector(ssl=cockpit_ssl(info))
        async with aiohttp.ClientSession(headers=cockpit_headers(info), connector=pinned) as http:
            greeting = await hello(http, info)
            assert greeting["services"]["HTTPS"].startswith("self-signed, SHA-256 ")
        other = ensure_self_signed(tmp_path / "other", "0.0.0.0")
        impostor = dataclasses.replace(info, tls_cert=str(other.cert))
        wrong = aiohttp.TCPConnector(ssl=cockpit_ssl(impostor))
        async with aiohttp.ClientSession(headers=cockpit_headers(info), connector=wrong) as http:
            with pytest.raises(AttachError, match="not using the certificate in cockpit.json"):
                await hello(http, impostor)


async def test_the_feed_sends_a_heartbeat_when_idle_and_no_meters_to_nobody() -> None:
    from localagent.events import CallActivity, EventBus
    from localagent.web.cockpit import CockpitFeed

    bus = EventBus()
    feed = CockpitFeed(bus)
    feed.start()
    bus.publish(CallActivity("", call="c1", caller=0.5, bot=0.0, state="listening"))
    items = feed.follow(0, idle_s=0.05).__aiter__()
    assert await items.__anext__() is None  # nothing kept, nothing new: a heartbeat
    bus.publish(ServiceHealth("", service="LLM", ok=True, detail="up"))
    await asyncio.sleep(0)  # the item arrives through the loop, as from another thread
    item = await items.__anext__()
    assert item is not None and item["event"]["kind"] == "ServiceHealth" and item["seq"] == 1
    await items.aclose()  # type: ignore[attr-defined]
    feed.close()
