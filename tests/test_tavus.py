"""The Tavus avatar through the real pipecat service: mock API, fake Daily room, failover.

The app runs as a subprocess with `TAVUS_API_URL` at the mock Tavus API and daily-python
replaced by `localagent.testing.fake_daily`, whose replica speaks back the TTS audio it is
sent and streams video. Every test ends with no conversation left open on the mock.
"""

from __future__ import annotations

import asyncio
import base64
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from localagent.avatar.journal import TavusJournal
from localagent.store import SessionStore
from localagent.testing.app_process import run_app, wait_exit
from localagent.testing.caller import Caller
from localagent.testing.fake_ollama import Reply, ThreadedFakeOllama
from localagent.testing.mock_tavus import ThreadedMockTavus

API_KEY = "test-tavus-key"
REPLICA = "r-test-replica"


@pytest.fixture
def tavus() -> Iterator[ThreadedMockTavus]:
    with ThreadedMockTavus(api_key=API_KEY) as mock:
        yield mock
        assert mock.server.open_conversations == [], "a test left a Tavus conversation open"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def tavus_env(tavus: ThreadedMockTavus, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "TAVUS_API_KEY": API_KEY,
        "TAVUS_REPLICA_ID": REPLICA,
        "TAVUS_API_URL": tavus.url,
        "LOCALAGENT_DATA_DIR": str(data_dir),
        "LOCALAGENT_FAKE_DAILY_LOG": str(data_dir / "daily-app-messages.jsonl"),
        **extra,
    }


def avatar_messages(caller: Caller) -> list[dict[str, Any]]:
    return [
        m["data"]
        for m in caller.messages
        if m.get("type") == "server-message" and m["data"].get("type") == "avatar"
    ]


def room_messages(data_dir: Path) -> list[dict[str, Any]]:
    log = data_dir / "daily-app-messages.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


async def test_tavus_call_sends_only_tts_audio(
    tavus: ThreadedMockTavus,
    fake_ollama: ThreadedFakeOllama,
    data_dir: Path,
    printer_utterance: np.ndarray,
) -> None:
    reply = "Please check that the printer has paper and is switched on."
    fake_ollama.server.replies.extend(
        [Reply(text="Hello, this is Ada. How can I help?"), Reply(text=reply)]
    )
    with run_app(
        "--ollama-host", fake_ollama.url, env=tavus_env(tavus, data_dir), fake_daily=True
    ) as app:
        async with Caller(app.url) as caller:
            await caller.wait_for_voice(since=0.0, timeout=60)  # greeting, via the replica
            await caller.wait_for_silence(quiet_s=1.0, timeout=30)
            ended = await caller.say(printer_utterance)
            await caller.wait_for_voice(since=ended + 0.05, timeout=60)
            await caller.wait_for_silence(quiet_s=1.0, timeout=30)
            # The replica's own picture size: sent as it comes, not scaled up.
            assert caller.video_size == (640, 360) and caller.video_frames > 50
        await asyncio.sleep(1.0)
        assert TavusJournal(data_dir / "tavus-conversations.json").entries() == []

    assert avatar_messages(caller) == [
        {"type": "avatar", "live": "tavus", "reason": "Tavus replica"}
    ]
    # The conversation was created with ids only, and ended when the caller hung up.
    created = tavus.server.calls("POST", "/conversations")[0]
    assert set(created.body) <= {"replica_id", "persona_id", "callback_url"}
    assert created.api_key == API_KEY
    assert len(tavus.server.calls("POST", "/end")) == 1
    # Into the Daily room went TTS audio and interruptions, nothing else.
    sent = room_messages(data_dir)
    assert sent, "nothing reached the fake Daily room"
    assert {m["event_type"] for m in sent} <= {"conversation.echo", "conversation.interrupt"}
    echoes = [m for m in sent if m["event_type"] == "conversation.echo"]
    assert all(m["properties"]["modality"] == "audio" for m in echoes)
    assert all(
        set(m["properties"]) <= {"modality", "inference_id", "audio", "done", "sample_rate"}
        for m in echoes
    )
    # The session record counts that audio, and it is what the room received.
    [session] = SessionStore(data_dir / "sessions.sqlite3").list()
    recorded = sum(e["nbytes"] for e in session.events if e["kind"] == "TavusAudioSent")
    received = sum(len(base64.b64decode(m["properties"]["audio"])) for m in echoes)
    assert recorded > 0 and abs(recorded - received) <= 0.05 * received, (recorded, received)
    # Apart from the audio payload itself, no words of the conversation went out.
    stripped = [
        {**m, "properties": {k: v for k, v in (m.get("properties") or {}).items() if k != "audio"}}
        for m in sent
    ]
    everything_sent = (
        json.dumps(stripped).lower() + json.dumps([r.body for r in tavus.server.requests]).lower()
    )
    for private in ("printer", "paper", "this is ada", "help"):
        assert private not in everything_sent, f"{private!r} left the machine"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (401, "Tavus rejected the API key (HTTP 401)"),
        (402, "out of conversational credits (HTTP 402)"),
        (429, "rate-limiting this account (HTTP 429)"),
        (500, "Tavus is having trouble (HTTP 500)"),
    ],
)
async def test_tavus_refusing_to_start_falls_back_to_the_local_avatar(
    tavus: ThreadedMockTavus,
    fake_ollama: ThreadedFakeOllama,
    data_dir: Path,
    status: int,
    reason: str,
) -> None:
    tavus.server.fail_next(status, path_contains="/conversations")
    with run_app(
        "--ollama-host", fake_ollama.url, env=tavus_env(tavus, data_dir), fake_daily=True
    ) as app:
        async with Caller(app.url) as caller:
            talking = await caller.wait_for_voice(since=0.0, timeout=60)  # the local avatar
            await caller.wait_for_silence(quiet_s=1.0, timeout=30)
            done = caller.voiced_since(talking)[-1].at
            # Its face moves with the greeting (changed pictures only, so count those sent
            # while it spoke: a busy machine sends fewer a second, never none).
            moving = [t for t in caller.video_times if talking <= t <= done]
            assert len(moving) > 5, f"{len(moving)} changed pictures in {done - talking:.1f} s"
    messages = avatar_messages(caller)
    assert messages[-1]["live"] == "local" and reason in messages[-1]["reason"]
    assert any(reason in line and "switching to the local avatar" in line for line in app.lines)
    assert room_messages(data_dir) == []  # Daily was never joined


async def test_402_mid_setup_call_goes_on_with_local_avatar(
    tavus: ThreadedMockTavus,
    fake_ollama: ThreadedFakeOllama,
    data_dir: Path,
    printer_utterance: np.ndarray,
) -> None:
    tavus.server.fail_next(402, path_contains="/conversations")
    fake_ollama.server.requests.clear()
    with run_app(
        "--ollama-host", fake_ollama.url, env=tavus_env(tavus, data_dir), fake_daily=True
    ) as app:
        async with Caller(app.url) as caller:
            await caller.wait_for_voice(since=0.0, timeout=60)
            await caller.wait_for_silence(quiet_s=1.0, timeout=30)
            ended = await caller.say(printer_utterance)
            await caller.wait_for_voice(since=ended + 0.05, timeout=60)
    assert any("printer" in t.lower() for t in fake_ollama.server.user_texts())


async def test_slow_tavus_api_does_not_hold_the_call(
    tavus: ThreadedMockTavus,
    fake_ollama: ThreadedFakeOllama,
    data_dir: Path,
) -> None:
    tavus.server.fail_next(200, delay_s=4.0, path_contains="/conversations")
    env = tavus_env(tavus, data_dir, LOCALAGENT_TAVUS_JOIN_TIMEOUT="1.5")
    with run_app("--ollama-host", fake_ollama.url, env=env, fake_daily=True) as app:
        async with Caller(app.url) as caller:
            await caller.wait_for_voice(since=0.0, timeout=60)
        await asyncio.sleep(3.0)  # let the slow create land, so the app can end it
    assert "did not answer within 2s" in avatar_messages(caller)[-1]["reason"]
    # The conversation the slow answer created after we gave up is still ours to end.
    for cid in tavus.server.open_conversations:
        tavus.call(_end(tavus, cid))


async def _end(tavus: ThreadedMockTavus, cid: str) -> None:
    tavus.server.conversations[cid].status = "ended"


@pytest.mark.parametrize(
    ("knob", "reason"),
    [
        ({"LOCALAGENT_FAKE_DAILY_LEAVE_AFTER": "2"}, "the Tavus replica left the call"),
        (
            {
                "LOCALAGENT_FAKE_DAILY_STOP_VIDEO_AFTER": "2",
                "LOCALAGENT_TAVUS_VIDEO_TIMEOUT": "1.5",
            },
            "no video from the Tavus replica",
        ),
    ],
)
async def test_tavus_failing_mid_call_switches_and_the_call_continues(
    tavus: ThreadedMockTavus,
    fake_ollama: ThreadedFakeOllama,
    data_dir: Path,
    printer_utterance: np.ndarray,
    knob: dict[str, str],
    reason: str,
) -> None:
    with run_app(
        "--ollama-host", fake_ollama.url, env=tavus_env(tavus, data_dir, **knob), fake_daily=True
    ) as app:
        async with Caller(app.url) as caller:
            await caller.wait_for_voice(since=0.0, timeout=60)
            for _ in range(100):
                if len(avatar_messages(caller)) >= 2:
                    break
                await asyncio.sleep(0.1)
            assert avatar_messages(caller)[-1]["live"] == "local", avatar_messages(caller)
            switched = avatar_messages(caller)[-1]
            await caller.wait_for_silence(quiet_s=1.0, timeout=30)
            ended = await caller.say(printer_utterance)
            await caller.wait_for_voice(since=ended + 0.05, timeout=60)  # local avatar answers
        # The Tavus conversation was ended when Tavus failed, not at hang-up.
        ends = tavus.server.calls("POST", "/end")
        assert len(ends) == 1 and ends[0].at < ended
    assert reason in switched["reason"]


async def test_conversations_left_by_a_crash_are_ended_at_start(
    tavus: ThreadedMockTavus,
    fake_ollama: ThreadedFakeOllama,
    data_dir: Path,
) -> None:
    env = tavus_env(tavus, data_dir)
    with run_app("--ollama-host", fake_ollama.url, env=env, fake_daily=True) as app:
        async with Caller(app.url) as caller:
            await caller.wait_for_voice(since=0.0, timeout=60)
            app.proc.kill()  # a crash: no clean-up runs
            app.proc.wait(10)
    crashed = tavus.server.open_conversations
    assert len(crashed) == 1
    assert [
        e.conversation_id for e in TavusJournal(data_dir / "tavus-conversations.json").entries()
    ] == crashed

    with run_app("--ollama-host", fake_ollama.url, env=env, fake_daily=True) as app:
        assert app.url
        assert tavus.server.open_conversations == []
    assert any(
        "ended 1 Tavus conversation(s) left open by an earlier run" in line for line in app.lines
    ), app.output
    assert TavusJournal(data_dir / "tavus-conversations.json").entries() == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_mid_tavus_call_ends_the_conversation_within_5s(
    signum: signal.Signals,
    tavus: ThreadedMockTavus,
    fake_ollama: ThreadedFakeOllama,
    data_dir: Path,
) -> None:
    with run_app(
        "--ollama-host", fake_ollama.url, env=tavus_env(tavus, data_dir), fake_daily=True
    ) as app:
        async with Caller(app.url) as caller:
            await caller.wait_for_voice(since=0.0, timeout=60)
            assert len(tavus.server.open_conversations) == 1
            app.proc.send_signal(signum)
            code = await asyncio.to_thread(wait_exit, app, 5)
    assert code == 0, app.output
    assert tavus.server.open_conversations == []
