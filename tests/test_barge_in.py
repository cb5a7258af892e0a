"""A barge-in over a real call: what the caller heard is the record, nothing more.

The bot gives a four-sentence answer; the caller cuts in a second into the third sentence.
The next LLM request, the captions and the session record must hold only what the caller
heard, to the word (Piper's phoneme timings), and the rest must not be carried into the
bot's next turn. Run with both avatars: the local
one, and Tavus (mock API, fake Daily replica that speaks back the audio it is sent).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from localagent.store import SessionStore
from localagent.testing.app_process import run_app
from localagent.testing.caller import Caller
from localagent.testing.fake_ollama import Reply, ThreadedFakeOllama
from localagent.testing.mock_tavus import ThreadedMockTavus
from localagent.testing.speech import synthesize

SENTENCES = [
    "First, make sure the printer is switched on.",
    "Second, check that there is paper in the tray.",
    "Third, look for a blinking light on the front panel.",
    "Fourth, restart the computer and print the page again.",
]
ANSWER = " ".join(SENTENCES)
FOLLOW_UP = "Good. Tell me when you have done that."


def _assistant_messages(request: dict[str, Any]) -> list[str]:
    return [
        str(m.get("content") or "")
        for m in request.get("messages", [])
        if m.get("role") == "assistant" and m.get("content")
    ]


def _sentences_in(text: str) -> list[str]:
    return [s for s in SENTENCES if s in text]


@pytest.mark.parametrize("avatar", ["local", "tavus"])
async def test_barge_in_keeps_only_what_was_played(
    avatar: str,
    fake_ollama: ThreadedFakeOllama,
    tmp_path: Path,
    printer_utterance: np.ndarray,
) -> None:
    server = fake_ollama.server
    server.requests.clear()
    server.replies.extend([Reply(text=ANSWER), Reply(text=FOLLOW_UP)])
    data_dir = tmp_path / "data"
    env = {"LOCALAGENT_DATA_DIR": str(data_dir)}
    tavus = ThreadedMockTavus(api_key="k") if avatar == "tavus" else None
    if tavus is not None:
        tavus.__enter__()
        env |= {
            "TAVUS_API_KEY": "k",
            "TAVUS_REPLICA_ID": "r-test-replica",
            "TAVUS_API_URL": tavus.url,
        }
    try:
        flags = ("--ollama-host", fake_ollama.url, "--avatar", avatar)
        with run_app(*flags, env=env, fake_daily=avatar == "tavus") as app:
            async with Caller(app.url) as caller:
                answer_at = await caller.wait_for_voice(since=0.0, timeout=60)
                # 1.5 s into the third sentence (each is 2.5-3 s of speech), the caller
                # cuts in.
                two = sum(len(synthesize(s)) for s in SENTENCES[:2]) / 48000
                await asyncio.sleep(max(0.0, answer_at + two + 1.5 - time.monotonic()))
                cut_in = asyncio.create_task(caller.say(printer_utterance))
                spoke_at = time.monotonic()
                await cut_in
                # The bot falls silent, then answers the caller.
                await caller.wait_for_voice(since=time.monotonic(), timeout=60)
                await caller.wait_for_silence(quiet_s=1.0, timeout=30)
                heard_until = max(
                    (a.at for a in caller.voiced_since(answer_at) if a.at < spoke_at + 1.5),
                    default=answer_at,
                )
            await asyncio.sleep(1.0)
    finally:
        if tavus is not None:
            tavus.__exit__(None, None, None)

    reasons = [m["data"] for m in caller.messages if m.get("data", {}).get("type") == "avatar"]
    lives = {r["live"] for r in reasons}
    assert lives == {avatar}, f"the call did not stay on the {avatar} avatar: {reasons}"
    # The request answering the caller holds the greeting as it was played: the first
    # sentences, never the last one, and nothing the caller could not have heard yet.
    replying = next(r for r in server.requests if "printer" in str(r["messages"]).lower())
    [said] = _assistant_messages(replying)
    played_s = heard_until - answer_at
    spoken = np.cumsum([len(synthesize(s)) / 48000 for s in SENTENCES])
    could_hear = int(np.sum(spoken <= played_s + 0.5))
    print(f"\n{avatar}: played {played_s:.2f}s, context holds {said!r}")
    assert _sentences_in(said), f"the played sentences are missing: {said!r}"
    assert SENTENCES[-1] not in said and len(_sentences_in(said)) <= could_hear, said
    assert ANSWER.startswith(said.strip()), f"not a prefix of the answer: {said!r}"
    # Piper's phoneme timings: the third sentence is kept to the words that were played.
    third = said.strip().removeprefix(" ".join(SENTENCES[:2])).strip()
    assert third and SENTENCES[2].startswith(third) and third != SENTENCES[2], said
    # The unsaid rest was not carried into the next turn.
    record = SessionStore(data_dir / "sessions.sqlite3").list()[0]
    bot = [e for e in record.events if e["kind"] == "Turn" and e["role"] == "assistant"]
    assert bot[0]["interrupted"] and bot[0]["text"].strip() == said.strip(), bot[0]
    assert bot[1]["text"].strip() == FOLLOW_UP, f"unsaid words carried over: {bot[1]['text']!r}"
    # The captions the page showed are the same words.
    captions = " ".join(
        m["data"]["text"]
        for m in caller.messages
        if m.get("type") == "bot-output" and m["data"].get("spoken")
    )
    assert SENTENCES[-1] not in captions and FOLLOW_UP in captions, captions
