"""Faults mid-call: the avatar apologises, the TUI and the record show it, the next turn works.

Each fault is injected the way it happens for real: Ollama stalling, dropping the stream or
answering 500 (the project's Ollama-compatible server), Ollama down and then back, whisper
or Piper raising (`localagent.testing.faults`), and the browser vanishing mid-answer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from localagent.call.call import APOLOGIES
from localagent.store import SessionRecord, SessionStore
from localagent.testing.app_process import AppProcess, fetch_status, run_app
from localagent.testing.caller import Caller
from localagent.testing.cli import free_port
from localagent.testing.fake_ollama import FakeOllama, Reply, ThreadedFakeOllama, ToolCall
from localagent.testing.speech import synthesize

GREETING = Reply("Hello, this is the help desk. What can I do for you?")
RECOVERED = "I am back. Your printer needs new toner."


# One sentence, like conftest's printer_utterance: one user turn each.
@pytest.fixture(scope="module")
def second_utterance() -> np.ndarray:
    return synthesize("The printer shows a red light.")


def _record(data_dir: Path) -> SessionRecord:
    [record] = SessionStore(data_dir / "sessions.sqlite3").list()
    return record


async def _turn(caller: Caller, speech: np.ndarray, quiet_s: float = 1.0) -> float:
    """Say `speech`, wait for the bot's answer to finish; seconds of bot speech heard."""
    ended = await caller.say(speech)
    first = await caller.wait_for_voice(since=ended, timeout=60)
    await caller.wait_for_silence(quiet_s=quiet_s, timeout=60)
    return len(caller.voiced_since(first)) * 0.02


async def _greeted(app: AppProcess) -> Caller:
    caller = Caller(app.url)
    await caller.connect()
    await caller.wait_for_voice(since=0.0, timeout=60)
    await caller.wait_for_silence(quiet_s=1.0, timeout=60)
    return caller


async def _wait_for_record(data_dir: Path, predicate: Any, timeout: float = 10) -> SessionRecord:
    for _ in range(int(timeout / 0.1)):
        record = _record(data_dir)
        if predicate(record):
            return record
        await asyncio.sleep(0.1)
    return _record(data_dir)


@pytest.mark.parametrize(
    "fault",
    [
        Reply("Let me look at", fault="stall", fault_after=3),
        Reply("Let me look at", fault="drop", fault_after=3),
        Reply(fault="error"),
    ],
    ids=["stall", "drop", "500"],
)
async def test_ollama_failing_mid_answer_gets_an_apology_and_the_next_turn_works(
    fault: Reply, printer_utterance: np.ndarray, second_utterance: np.ndarray, tmp_path: Path
) -> None:
    replies = [GREETING, fault, Reply(RECOVERED)]
    with (
        ThreadedFakeOllama(replies=replies) as ollama,
        run_app(
            "--ollama-host",
            ollama.url,
            "--llm-timeout",
            "2",
            env={"LOCALAGENT_DATA_DIR": str(tmp_path)},
        ) as app,
    ):
        assert app.url, app.output
        caller = await _greeted(app)
        try:
            # quiet for longer than the LLM timeout: a stalled answer pauses that long
            spoken = await _turn(caller, printer_utterance, quiet_s=3.0)
            assert spoken > 2.0, "the apology was not spoken"
            await _turn(caller, second_utterance)
        finally:
            await caller.close()
        assert len(ollama.server.requests) == 3
        assert "red light" in ollama.server.user_texts()[2]
    record = await _wait_for_record(data_dir=tmp_path, predicate=lambda r: r.ended_at)
    said = [t["text"] for t in record.turns if t["role"] == "assistant"]
    assert any(APOLOGIES["LLM"] in s for s in said), said
    assert said[-1] == RECOVERED
    [fault_event] = [e for e in record.events if e["kind"] == "ServiceFault"]
    assert fault_event["service"] == "LLM" and fault_event["apology"] == APOLOGIES["LLM"]
    assert any("LLM failed" in line for line in app.lines), app.output


async def test_ollama_down_then_back_the_next_turn_reaches_the_flow(
    printer_utterance: np.ndarray, second_utterance: np.ndarray, tmp_path: Path
) -> None:
    port = free_port()
    with run_app(
        "--ollama-host", f"http://127.0.0.1:{port}", env={"LOCALAGENT_DATA_DIR": str(tmp_path)}
    ) as app:
        assert app.url, app.output
        caller = await _greeted(app)  # the greeting is the "Ollama is down" notice
        try:
            await _turn(caller, second_utterance)  # still down: the short notice this time
            async with FakeOllama(port=port, replies=[Reply(RECOVERED)]) as ollama:
                spoken = await _turn(caller, printer_utterance)
                assert spoken > 1.0
                [request] = ollama.requests
                assert "printer" in ollama.user_texts()[0]
                # the flow's node is in force: its prompt and functions went with the request
                assert request["tools"], request
        finally:
            await caller.close()
    record = await _wait_for_record(tmp_path, lambda r: r.ended_at)
    assert record.path[:1] == ["greet"], record.path
    said = [t["text"] for t in record.turns if t["role"] == "assistant"]
    assert said[0].startswith("I can't reach the Ollama") and "say that again" in said[0]
    assert said[1:] == ["I still can't reach the language model server.", RECOVERED], said


@pytest.mark.parametrize(
    ("env", "service"),
    [({"LOCALAGENT_FAULT_WHISPER": "1"}, "STT"), ({"LOCALAGENT_FAULT_PIPER": "2"}, "TTS")],
    ids=["whisper", "piper"],
)
async def test_a_model_raising_is_survived(
    env: dict[str, str],
    service: str,
    fake_ollama: ThreadedFakeOllama,
    printer_utterance: np.ndarray,
    second_utterance: np.ndarray,
    tmp_path: Path,
) -> None:
    with run_app(
        "--ollama-host",
        fake_ollama.url,
        env={**env, "LOCALAGENT_DATA_DIR": str(tmp_path)},
        faults=True,
    ) as app:
        assert app.url, app.output
        caller = await _greeted(app)
        try:
            ended = await caller.say(printer_utterance)
            if service == "STT":  # whisper failed on it: the avatar asks again
                await caller.wait_for_voice(since=ended, timeout=30)
                await caller.wait_for_silence(quiet_s=1.0, timeout=30)
            else:  # Piper failed on the answer: nothing to hear, but the call goes on
                await asyncio.sleep(4)
            spoken = await _turn(caller, second_utterance)
            assert spoken > 1.0, "no spoken answer after the fault"
            faults = [m for m in caller.messages if m.get("data", {}).get("type") == "fault"]
            assert faults and faults[0]["data"]["service"] == service, caller.messages
        finally:
            await caller.close()
    record = await _wait_for_record(tmp_path, lambda r: r.ended_at)
    [event] = [e for e in record.events if e["kind"] == "ServiceFault"]
    assert event["service"] == service and "injected" in event["error"]
    user_turns = [t["text"] for t in record.turns if t["role"] == "user"]
    assert any("red light" in t for t in user_turns), user_turns
    if service == "STT":
        said = [t["text"] for t in record.turns if t["role"] == "assistant"]
        assert APOLOGIES["STT"] in said, said


async def test_browser_vanishing_mid_answer_frees_the_server(
    app: AppProcess, printer_utterance: np.ndarray
) -> None:
    caller = await _greeted(app)
    ended = await caller.say(printer_utterance)
    await caller.wait_for_voice(since=ended, timeout=60)
    await caller.close()  # gone while the bot is talking
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            async with http.get(f"{app.url}/api/status") as resp:
                if not (await resp.json())["sessions"]:
                    break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the vanished browser's session was never torn down")
    async with Caller(app.url) as again:
        await again.wait_for_voice(since=0.0, timeout=60)


# Ollama answering 200 with nothing usable: heard, recorded, and the next turn works.
@pytest.mark.parametrize(
    "broken",
    [
        Reply(fault="html"),
        Reply("Let me check", fault="json"),
        Reply(fault="empty"),
        Reply(tool_calls=(ToolCall("record_issue", {"summary": "printer"}),), fault="bad_tool"),
    ],
    ids=["html", "json-not-sse", "empty", "malformed-tool-call"],
)
async def test_a_broken_llm_reply_is_heard_and_recorded(
    broken: Reply, printer_utterance: np.ndarray, second_utterance: np.ndarray, tmp_path: Path
) -> None:
    with (
        ThreadedFakeOllama(replies=[GREETING, broken, Reply(RECOVERED)]) as ollama,
        run_app("--ollama-host", ollama.url, env={"LOCALAGENT_DATA_DIR": str(tmp_path)}) as app,
    ):
        assert app.url, app.output
        caller = await _greeted(app)
        try:
            spoken = await _turn(caller, printer_utterance, quiet_s=3.0)
            assert spoken > 2.0, f"the apology was not spoken:\n{app.output[-4000:]}"
            await _turn(caller, second_utterance)
        finally:
            await caller.close()
    record = await _wait_for_record(data_dir=tmp_path, predicate=lambda r: r.ended_at)
    said = [t["text"] for t in record.turns if t["role"] == "assistant"]
    assert any(APOLOGIES["LLM"] in s for s in said), said
    assert said[-1] == RECOVERED
    faults = [e for e in record.events if e["kind"] == "ServiceFault"]
    assert [f["service"] for f in faults] == ["LLM"], [f["error"] for f in faults]


async def test_a_tool_loop_is_stopped_at_the_limit_with_a_spoken_message(
    printer_utterance: np.ndarray, second_utterance: np.ndarray, tmp_path: Path
) -> None:
    # A model that keeps calling record_issue with arguments the handler cannot take.
    bad_call = Reply(tool_calls=(ToolCall("record_issue", {"topic": "printer"}),))
    replies = [GREETING, *[bad_call] * 30]
    with (
        ThreadedFakeOllama(replies=replies) as ollama,
        run_app("--ollama-host", ollama.url, env={"LOCALAGENT_DATA_DIR": str(tmp_path)}) as app,
    ):
        assert app.url, app.output
        caller = await _greeted(app)
        try:
            spoken = await _turn(caller, printer_utterance)
            asked = len(ollama.server.requests) - 1  # after the greeting
            assert spoken > 2.0, "the loop was not followed by a spoken message"
            faults = [
                m["data"] for m in caller.messages if m.get("data", {}).get("type") == "fault"
            ]
            assert faults and faults[0]["service"] == "tools", caller.messages
            # A speculative answer that wants a tool is withdrawn, to run again once the
            # turn is over: it cost a request, but it is not one of the loop's.
            status = await asyncio.to_thread(fetch_status, app.url)
            turns = status["sessions"][0]["turns"]
            assert turns is not None, status["sessions"][0]
            withdrawn = turns["speculations"]["withdrawn"]
            # Once the caller speaks again, the model may call tools again.
            ollama.server.replies.clear()
            ollama.server.replies.append(Reply(RECOVERED))
            await _turn(caller, second_utterance)
        finally:
            await caller.close()
    print(
        f"\ntool loop: {asked} LLM requests ({withdrawn} speculative) before the guard stopped it"
    )
    assert asked - withdrawn == 3, (
        f"{asked} LLM requests for one caller turn, {withdrawn} withdrawn"
    )
    record = await _wait_for_record(tmp_path, lambda r: r.ended_at)
    calls = [e for e in record.events if e["kind"] == "FunctionCalled"]
    assert len(calls) == 3 and not any(c["accepted"] for c in calls), calls
    [fault] = [e for e in record.events if e["kind"] == "ServiceFault"]
    assert fault["service"] == "tools" and "record_issue 3 times" in fault["error"], fault
    said = [t["text"] for t in record.turns if t["role"] == "assistant"]
    assert APOLOGIES["tools"] in said and said[-1] == RECOVERED, said


async def test_a_recorder_write_error_mid_call_keeps_the_rest_of_the_call(
    fake_ollama: ThreadedFakeOllama,
    printer_utterance: np.ndarray,
    second_utterance: np.ndarray,
    tmp_path: Path,
) -> None:
    """Another program locks the sessions database mid-call: writes fail, then recover."""
    import sqlite3

    with run_app(
        "--ollama-host", fake_ollama.url, env={"LOCALAGENT_DATA_DIR": str(tmp_path)}
    ) as app:
        assert app.url, app.output
        caller = await _greeted(app)
        locker = sqlite3.connect(tmp_path / "sessions.sqlite3", isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")  # SQLite's busy wait (10 s) runs out under it
            await _turn(caller, printer_utterance)
            async with aiohttp.ClientSession() as http:
                for _ in range(150):
                    async with http.get(f"{app.url}/api/status") as resp:
                        recorder = (await resp.json())["recorder"]
                    if not recorder["ok"]:
                        break
                    await asyncio.sleep(0.1)
            assert not recorder["ok"] and "locked" in recorder["error"], recorder
            assert recorder["pending"] > 0 and "CANNOT WRITE" in recorder["description"]
            locker.execute("COMMIT")
            await _turn(caller, second_utterance)
        finally:
            locker.close()
            await caller.close()
    record = await _wait_for_record(tmp_path, lambda r: r.ended_at)
    user_turns = [t["text"] for t in record.turns if t["role"] == "user"]
    assert len(user_turns) == 2 and "printer" in user_turns[0].lower(), user_turns
    assert "red light" in user_turns[1], user_turns
    assert len([t for t in record.turns if t["role"] == "assistant"]) == 3, record.turns
    assert any("session recorder cannot write" in line for line in app.lines), app.output
    assert any("writing again" in line for line in app.lines), app.output
