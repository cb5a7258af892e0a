"""The privacy guard: blocked and allowed connections, --offline calls, and secret redaction.

Loopback addresses stand in for remote hosts: the policy is told to treat 127.0.0.7 (an
arbitrary server) and 127.0.0.8 (the mock Tavus API) as remote.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from localagent.errors import ConfigError
from localagent.events import EgressSeen, Event, EventBus
from localagent.privacy.egress import (
    EgressBlocked,
    EgressPolicy,
    egress_counts,
    install_egress_guard,
    policy_for,
)
from localagent.settings import Settings
from localagent.store import SessionStore
from localagent.testing.app_process import run_app
from localagent.testing.caller import Caller
from localagent.testing.fake_ollama import ThreadedFakeOllama
from localagent.testing.mock_tavus import ThreadedMockTavus

ELSEWHERE, TAVUS = "127.0.0.7", "127.0.0.8"


@pytest.fixture
def guarded() -> Iterator[list[Event]]:
    seen: list[Event] = []
    bus = EventBus()
    bus.subscribe(seen.append)
    policy = EgressPolicy(
        allowed={TAVUS: "Tavus API"}, remote_loopback=frozenset({ELSEWHERE, TAVUS})
    )
    install_egress_guard(policy, bus)
    try:
        yield seen
    finally:
        install_egress_guard(None)


@pytest.fixture
def listener() -> Iterator[list[tuple[str, int]]]:
    """A TCP server at ELSEWHERE that records who connected."""
    accepted: list[tuple[str, int]] = []
    server = socket.create_server((ELSEWHERE, 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, addr = server.accept()
            except TimeoutError:
                continue
            accepted.append(addr)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    accepted.insert(0, server.getsockname())  # [0] is the listening address
    try:
        yield accepted
    finally:
        stop.set()
        thread.join(2)
        server.close()


def test_a_connection_outside_the_policy_is_blocked_before_it_is_made(
    guarded: list[Event], listener: list[tuple[str, int]]
) -> None:
    host, port = listener[0]
    before = egress_counts()["blocked"]
    with pytest.raises(EgressBlocked, match=f"not in the egress policy: {host}:{port}"):
        socket.create_connection((host, port), timeout=2)
    assert listener[1:] == [], "the blocked connection reached the server"
    assert egress_counts()["blocked"] == before + 1
    [event] = [e for e in guarded if isinstance(e, EgressSeen)]
    assert (event.host, event.port, event.allowed) == (host, port, False)


def test_host_names_outside_the_policy_are_not_even_resolved(guarded: list[Event]) -> None:
    with pytest.raises(EgressBlocked, match="telemetry.example.com"):
        socket.getaddrinfo("telemetry.example.com", 443)
    # loopback names still resolve
    assert socket.getaddrinfo("localhost", 80)


async def test_the_tavus_api_is_allowed(guarded: list[Event]) -> None:
    with ThreadedMockTavus(api_key="k-allowed", host=TAVUS) as tavus:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{tavus.url}/replicas/r1", headers={"x-api-key": "k-allowed"}) as resp,
        ):
            assert resp.status in (200, 404)
    allowed = [e for e in guarded if isinstance(e, EgressSeen) and e.allowed]
    assert allowed and allowed[0].host == TAVUS and allowed[0].purpose == "Tavus API"


def test_policy_from_settings() -> None:
    tavus = Settings(tavus_api_key="k" * 10, tavus_replica_id="r", avatar="auto")
    policy = policy_for(tavus)
    assert policy.check("1.2.3.4", "tavusapi.com") == (True, "Tavus API")
    assert policy.check("1.2.3.4", "b.daily.co")[0]
    assert not policy.check("1.2.3.4", "huggingface.co")[0]
    local = policy_for(Settings(avatar="local"))
    assert not local.check("1.2.3.4", "tavusapi.com")[0]
    remote_ollama = policy_for(Settings(ollama_host="http://gpu-box.lan:11434"))
    assert remote_ollama.check("10.0.0.2", "gpu-box.lan") == (True, "Ollama (OLLAMA_HOST)")
    # --offline turns the Tavus avatar off in auto mode and refuses what cannot work
    assert not Settings(tavus_api_key="k" * 10, tavus_replica_id="r", offline=True).wants_tavus()
    assert policy_for(Settings(offline=True)).check("1.2.3.4", "tavusapi.com")[0] is False
    with pytest.raises(ConfigError, match="OLLAMA_HOST"):
        policy_for(Settings(offline=True, ollama_host="http://gpu-box.lan:11434"))
    with pytest.raises(ConfigError, match="--avatar local"):
        policy_for(
            Settings(offline=True, avatar="tavus", tavus_api_key="k" * 10, tavus_replica_id="r")
        )


async def test_offline_call_makes_no_connection_off_the_machine(
    fake_ollama: ThreadedFakeOllama, printer_utterance: object
) -> None:
    with run_app("--ollama-host", fake_ollama.url, "--offline") as app:
        assert app.url, app.output
        async with Caller(app.url) as caller:
            await caller.wait_for_voice(since=0.0, timeout=60)
            await caller.wait_for_silence(quiet_s=1.0, timeout=60)
            ended = await caller.say(printer_utterance)
            await caller.wait_for_voice(since=ended, timeout=60)
        async with aiohttp.ClientSession() as http, http.get(f"{app.url}/api/status") as resp:
            status = await resp.json()
    assert status["offline"] is True
    assert status["egress"] == {"allowed": 0, "blocked": 0}
    assert not any("egress" in line for line in app.lines), app.output


async def test_the_tavus_key_never_reaches_logs_status_or_page(
    fake_ollama: ThreadedFakeOllama, tmp_path: Path
) -> None:
    key = "sk-live-Zq81secretvalue"
    with ThreadedMockTavus(api_key="a-different-key") as tavus:  # so Tavus answers 401
        env = {
            "TAVUS_API_KEY": key,
            "TAVUS_REPLICA_ID": "r-test",
            "TAVUS_API_URL": tavus.url,
            "LOCALAGENT_DATA_DIR": str(tmp_path),
        }
        with run_app(
            "--ollama-host", fake_ollama.url, "--log-level", "DEBUG", env=env, fake_daily=True
        ) as app:
            assert app.url, app.output
            async with Caller(app.url) as caller:
                await caller.wait_for_voice(since=0.0, timeout=60)
                await asyncio.sleep(0.5)
            async with aiohttp.ClientSession() as http:
                pages = [
                    await (await http.get(app.url + path)).text() for path in ("/", "/api/status")
                ]
        # the key was really used (and refused), so it had every chance to leak
        assert any(r.api_key == key for r in tavus.server.requests)
    output = app.output
    assert "401" in output, output
    assert key not in output and key not in "".join(pages)
    for record in SessionStore(tmp_path / "sessions.sqlite3").list():
        assert key not in json.dumps(record.events)


def test_log_lines_and_tracebacks_mask_registered_secrets(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The safety net under every sink: a library that logs a key, even in an exception."""
    from loguru import logger

    from localagent.cli import configure_logging
    from localagent.privacy.redact import register_secret

    key = "tvs-9f8e7d6c5b4a-secret"
    register_secret(key)
    configure_logging("DEBUG")
    try:
        logger.debug(f"POST /v2/conversations headers={{'x-api-key': '{key}'}}")
        try:
            raise RuntimeError(f"Incorrect API key provided: {key}")
        except RuntimeError:
            logger.exception("request failed")
    finally:
        logger.remove()
        logger.add(sys.stderr)
    err = capfd.readouterr().err
    assert "headers={'x-api-key': '[redacted]'}" in err
    assert "Incorrect API key provided: [redacted]" in err
    assert key not in err
