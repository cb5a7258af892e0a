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


def _two_sentences(pause: float) -> np.ndarray:
    first, second = synthesize(FIRST), synthesize(SECOND)
    return np.concatenate([first, np.zeros(int(pause * RATE), np.int16), second])


async def _after_greeting(caller: Caller) -> None:
    await caller.wait_for_voice(since=0.0, timeout=60)
    await caller.wait_for_silence(quiet_s=1.0, timeout=30)


async def test_a_pause_between_sentences_keeps_one_turn(
    turn_app: AppProcess, fake_ollama: ThreadedFakeOllama, data_dir: Path
) -> None:
    server = fake_ollama.server
    turn = _two_sentences(pause=0.45)
    async with Caller(turn_app.url) as caller:
        await _after_greeting(caller)
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
    # one turn of the caller's: where the pause ended it and they went on, the second part
    # is recorded as going on with the first
    users = [e for e in turns if e["role"] == "user"]
    whole = [e["text"] for e in users if not e.get("continues")]
    assert len(whole) == 1 and "hasn't" in " ".join(e["text"] for e in users), users
    assert not any(WITHDRAWN in e["text"] for e in turns)


async def _recorded_turns(data_dir: Path, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The newest call's turns once its caller's turn is in the record (written in the
    background), within a generous deadline."""
    deadline = time.monotonic() + timeout
    while True:
        records = SessionStore(data_dir / "sessions.sqlite3").list()
        turns = records[0].turns if records else []
        if any(e["role"] == "user" for e in turns) or time.monotonic() > deadline:
            return turns
        await asyncio.sleep(0.1)


async def test_going_on_after_the_turn_was_taken_is_answered_whole(
    turn_app: AppProcess, fake_ollama: ThreadedFakeOllama, data_dir: Path
) -> None:
    """A pause longer than a statement's wait: the bot may take the turn and start its
    answer (where this machine's whisper is quick enough); the caller going on stops it,
    and the LLM answers the whole turn as one message, with no half answer in between."""
    server = fake_ollama.server
    turn = _two_sentences(pause=0.7)
    async with Caller(turn_app.url) as caller:
        await _after_greeting(caller)
        asked = len(server.requests)
        server.answers.append(("hasn't", Reply(text=ANSWER)))
        server.replies.extend([Reply(text=LONG)] * 3)  # an answer to the first part alone
        await caller.say(turn)
        await caller.wait_for_voice(since=time.monotonic() - 0.3, timeout=20)
        await caller.wait_for_silence(quiet_s=1.0, timeout=30)
    requests = server.requests[asked:]

    last = requests[-1]
    said = [m for m in last["messages"] if m.get("role") in ("user", "assistant")]
    # the last answer is to the whole turn, one user message, nothing of an answer to its
    # first part left before it
    assert FIRST[:-1] in str(said[-1]["content"]) and "hasn't" in str(said[-1]["content"])
    assert not any("We open at nine" in str(m.get("content")) for m in said), said
    assert ANSWER in _captions(caller)
    # the record keeps the caller's words as one turn: a second part is marked as going on
    turns = await _recorded_turns(data_dir)  # this call's
    whole = [e["text"] for e in turns if e["role"] == "user" and not e.get("continues")]
    assert len(whole) == 1 and FIRST[:-1] in whole[0], turns


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
