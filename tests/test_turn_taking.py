"""Turn-taking over real calls: a pause between sentences, and a backchannel over the bot.

The caller says two sentences with a pause between them: the bot answers the whole turn once,
after the caller has finished; whatever it prepared in the pause (a speculation, where this
machine's whisper is done before the caller goes on) reaches neither the caller, the
captions, the context nor the record. Then, while the bot gives a long answer, the caller
says "Yeah.": the bot goes on to the end of it. The tests assert these outcomes, not how
fast this machine got there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from localagent.store import SessionStore
from localagent.testing.app_process import AppProcess, run_app
from localagent.testing.caller import Caller
from localagent.testing.fake_ollama import Reply, ThreadedFakeOllama
from localagent.testing.speech import synthesize

RATE = 48000
FIRST, SECOND = "I'm calling about my order.", "It hasn't arrived yet."
WITHDRAWN = "This answer was withdrawn."
ANSWER = "I see, let me look that up."
LONG = (
    "We open at nine in the morning on weekdays and at ten on Saturdays. "
    "On Sundays we are closed, except in December, when we open at noon."
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("turn-taking") / "data"


@pytest.fixture(autouse=True)
def _no_script_left(fake_ollama: ThreadedFakeOllama) -> Iterator[None]:
    """The fake Ollama is the session's: a reply these tests did not use must not answer
    another test's turn."""
    yield
    fake_ollama.server.replies.clear()
    fake_ollama.server.answers.clear()


@pytest.fixture(scope="module")
def turn_app(fake_ollama: ThreadedFakeOllama, data_dir: Path) -> Iterator[AppProcess]:
    flags = ("--ollama-host", fake_ollama.url, "--avatar", "local")
    with run_app(*flags, env={"LOCALAGENT_DATA_DIR": str(data_dir)}) as proc:
        assert proc.url, proc.output
        yield proc


def _users(request: dict[str, Any]) -> list[str]:
    return [str(m.get("content")) for m in request["messages"] if m.get("role") == "user"]


def _captions(caller: Caller) -> str:
    return " ".join(
        m["data"]["text"]
        for m in caller.messages
        if m.get("type") == "bot-output" and m["data"].get("spoken")
    )


async def test_a_pause_between_sentences_keeps_one_turn(
    turn_app: AppProcess, fake_ollama: ThreadedFakeOllama, data_dir: Path
) -> None:
    server = fake_ollama.server
    pause = 0.45
    first, second = synthesize(FIRST), synthesize(SECOND)
    turn = np.concatenate([first, np.zeros(int(pause * RATE), np.int16), second])
    async with Caller(turn_app.url) as caller:
        await caller.wait_for_voice(since=0.0, timeout=60)  # the greeting
        await caller.wait_for_silence(quiet_s=1.0, timeout=30)
        asked = len(server.requests)
        # the whole turn gets the answer; anything asked on the first sentence alone (an
        # answer prepared in the pause) gets words that must never be heard
        server.answers.append(("hasn't", Reply(text=ANSWER)))
        server.replies.extend([Reply(text=WITHDRAWN)] * 3)
        ended = await caller.say(turn)
        heard = await caller.wait_for_voice(since=ended - 0.3, timeout=20)
        await caller.wait_for_silence(quiet_s=1.0, timeout=30)
    requests = server.requests[asked:]
    await asyncio.sleep(0.5)

    whole = [r for r in requests if "hasn't" in _users(r)[-1]]
    early = [r for r in requests if "hasn't" not in _users(r)[-1]]
    # answered once, on the whole turn, as one user message
    assert len(whole) == 1 and requests[-1] is whole[0], [_users(r)[-1] for r in requests]
    assert FIRST[:-1] in _users(whole[0])[-1], [
        m for m in whole[0]["messages"] if m.get("role") != "system"
    ]
    # anything asked before the caller went on was on the first sentence alone
    assert all(FIRST[:-1] in _users(r)[-1] for r in early)
    print(f"\nanswers prepared in the pause and withdrawn: {len(early)}")
    assert heard > ended - 0.05, "the bot spoke before the caller had finished"
    assert WITHDRAWN not in _captions(caller) and ANSWER in _captions(caller)
    record = SessionStore(data_dir / "sessions.sqlite3").list()[0]
    turns = [e for e in record.events if e["kind"] == "Turn"]
    users = [e["text"] for e in turns if e["role"] == "user"]
    assert len(users) == 1 and "hasn't" in users[0], users
    assert not any(WITHDRAWN in e["text"] for e in turns)


async def test_a_backchannel_lets_the_bot_finish(
    turn_app: AppProcess, fake_ollama: ThreadedFakeOllama
) -> None:
    server = fake_ollama.server
    async with Caller(turn_app.url) as caller:
        await caller.wait_for_voice(since=0.0, timeout=60)
        await caller.wait_for_silence(quiet_s=1.0, timeout=30)
        server.replies.append(Reply(text=LONG))
        ended = await caller.say(synthesize("When are you open?"))
        started = await caller.wait_for_voice(since=ended, timeout=20)
        await asyncio.sleep(max(0.0, started + 1.5 - time.monotonic()))
        asked = len(server.requests)
        said_at = time.monotonic()
        await caller.say(synthesize("Yeah."))
        await caller.wait_for_silence(quiet_s=1.5, timeout=30)
        voiced = [a.at for a in caller.voiced_since(said_at + 1.0)]
    assert len(server.requests) == asked, "the backchannel was taken as a turn"
    assert voiced, "the bot did not go on after the backchannel"
    # The whole answer was played: the captions hold its last words.
    assert "when we open at noon." in _captions(caller)
