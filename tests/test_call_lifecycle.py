"""A call's life against the browsers that misbehave: ones that never connect, many at
once, and one whose process dies mid-answer. Real server, real aiortc peers, loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from localagent.testing.app_process import AppProcess, fetch_status, run_app
from localagent.testing.caller import offer_and_vanish, post_offer, vanished_offer
from localagent.testing.fake_ollama import ThreadedFakeOllama

CONNECT_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def strict_app(fake_ollama: ThreadedFakeOllama) -> Iterator[AppProcess]:
    """One call at a time (the default), and a short connect timeout."""
    env = {"LOCALAGENT_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT_S)}
    with run_app("--ollama-host", fake_ollama.url, env=env) as app:
        assert app.url, app.output
        yield app


def _descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        line = next(line for line in f if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


async def _until_no_calls(app: AppProcess, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        sessions: list[dict[str, Any]] = (await asyncio.to_thread(fetch_status, app.url))[
            "sessions"
        ]
        if not sessions or time.monotonic() > deadline:
            return sessions
        await asyncio.sleep(0.1)


def _ended(app: AppProcess, reason: str) -> int:
    return sum(f"ended ({reason})" in line for line in app.lines)


async def test_a_peer_that_never_connects_ends_and_gives_everything_back(
    strict_app: AppProcess,
) -> None:
    pid = strict_app.proc.pid
    async with aiohttp.ClientSession() as http:
        # The first offer warms what every peer connection shares (codecs, aiortc's state).
        assert (await offer_and_vanish(strict_app.url, http))[0] == 200
        assert await _until_no_calls(strict_app, CONNECT_TIMEOUT_S + 15) == []
        fds, rss = _descriptors(pid), _rss_mb(pid)
        tasks = fetch_status(strict_app.url)["process"]["asyncio_tasks"]
        ended = _ended(strict_app, "never connected")
        for _ in range(4):
            status, body = await offer_and_vanish(strict_app.url, http)
            assert status == 200, body
            assert await _until_no_calls(strict_app, CONNECT_TIMEOUT_S + 15) == []
    assert _ended(strict_app, "never connected") == ended + 4, strict_app.output[-3000:]
    after = fetch_status(strict_app.url)["process"]["asyncio_tasks"]
    print(
        f"\n4 never-connected calls: fds {fds} -> {_descriptors(pid)}, tasks {tasks} -> {after}, "
        f"RSS {rss:.0f} -> {_rss_mb(pid):.0f} MB"
    )
    # Each such call used to keep ~8 MB, 2 UDP sockets and 2 tasks for good.
    assert _descriptors(pid) <= fds, (fds, _descriptors(pid))
    assert fetch_status(strict_app.url)["process"]["asyncio_tasks"] <= tasks
    assert _rss_mb(pid) - rss < 16, (rss, _rss_mb(pid))


async def test_concurrent_offers_admit_exactly_one_call(strict_app: AppProcess) -> None:
    assert await _until_no_calls(strict_app, CONNECT_TIMEOUT_S + 15) == []
    offers = [await vanished_offer() for _ in range(20)]  # made first: sent all at once
    async with aiohttp.ClientSession() as http:
        answers = await asyncio.gather(*(post_offer(strict_app.url, http, o) for o in offers))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [429] * 19, answers
    assert all("LOCALAGENT_MAX_SESSIONS=1" in body for status, body in answers if status == 429)
    # The one admitted never connects either, and its slot comes back.
    assert await _until_no_calls(strict_app, CONNECT_TIMEOUT_S + 15) == []


async def test_a_browser_killed_mid_answer_frees_its_slot_within_5_s(
    strict_app: AppProcess,
) -> None:
    assert await _until_no_calls(strict_app, CONNECT_TIMEOUT_S + 15) == []
    left = _ended(strict_app, "browser left")
    caller = subprocess.Popen(  # noqa: ASYNC220 - a child to kill, not to wait on
        [sys.executable, "-m", "localagent.testing.caller", strict_app.url],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert caller.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(caller.stdout.readline), 120)
        assert line.strip() == "HEARD", line
        assert [s["state"] for s in fetch_status(strict_app.url)["sessions"]] == ["live"]
        caller.send_signal(signal.SIGKILL)  # no goodbye: no DTLS close, no SCTP abort
        killed_at = time.monotonic()
        assert await _until_no_calls(strict_app, 10) == []
        freed_s = time.monotonic() - killed_at
    finally:
        caller.kill()
        caller.wait(5)
    print(f"\nslot freed {freed_s:.2f} s after the caller was killed")
    assert freed_s < 5.0
    assert _ended(strict_app, "browser left") == left + 1, strict_app.output[-3000:]
