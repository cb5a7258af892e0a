"""Real calls against the wire habits of real model families (`testing/model_profiles.py`):
reasoning in each of its forms, tool calls written as text, a model without tools, a small
context window. What is asserted is what the caller heard, what the page was sent and what
the session record kept."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from localagent.call.call import APOLOGIES
from localagent.flows.loader import load_flow
from localagent.llm.context_budget import HISTORY_TOKENS, flow_largest_request
from localagent.ollama_status import describe_llm, probe_ollama
from localagent.settings import REPO_ROOT, Settings
from localagent.store import SessionRecord, SessionStore
from localagent.testing.app_process import AppProcess, fetch_status, run_app
from localagent.testing.caller import Caller
from localagent.testing.fake_ollama import Reply, ThreadedFakeOllama, ToolCall
from localagent.testing.model_profiles import PROFILES, ModelProfile
from localagent.testing.speech import synthesize

ANSWER = "Try turning it off and on again. Does that help?"
# Words of the profiles' reasoning trace: none of them may reach the caller.
REASONING_WORDS = ("Let me think", "Okay, the user", "<think>", "markdown")


@pytest.fixture(scope="module")
def lines() -> list[np.ndarray]:
    # one sentence each, no commas: one user turn per line under speech-timeout
    return [
        synthesize("My printer will not print anything."),
        synthesize("The printer shows a red light."),
        synthesize("It still blinks after that."),
        synthesize("Okay thank you that solved it."),
    ]


def _record(data_dir: Path) -> SessionRecord:
    [record] = SessionStore(data_dir / "sessions.sqlite3").list()
    return record


async def _ended_record(data_dir: Path, timeout: float = 15) -> SessionRecord:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        records = SessionStore(data_dir / "sessions.sqlite3").list()
        if records and records[0].ended_at:
            return records[0]
        await asyncio.sleep(0.1)
    return _record(data_dir)


async def _converse(
    app: AppProcess, lines: list[np.ndarray], before: list[Callable[[], None]]
) -> Caller:
    """Greeted, then each line after the bot falls silent; `before[i]` runs before line i
    (a model's habits changed between turns). The caller is closed at the end."""
    caller = Caller(app.url)
    await caller.connect()
    try:
        await caller.wait_for_voice(since=0.0, timeout=60)
        for line, change in zip(lines, before, strict=True):
            await caller.wait_for_silence(quiet_s=1.0, timeout=60)
            change()
            ended = await caller.say(line)
            await caller.wait_for_voice(since=ended + 0.05, timeout=60)
        await caller.wait_for_silence(quiet_s=1.5, timeout=60)
    finally:
        await caller.close()
    return caller


def _becomes(ollama: ThreadedFakeOllama, model: str, name: str) -> Callable[[], None]:
    """Between turns: the model takes on another family's habits."""
    return lambda: ollama.server.profiles.__setitem__(model, PROFILES[name])


def _app(ollama: ThreadedFakeOllama, model: str, data_dir: Path, *args: str) -> Any:
    return run_app(
        "--ollama-host",
        ollama.url,
        "--llm-model",
        model,
        # the replies are scripted turn by turn: the turn ends on silence alone
        "--turn-stop",
        "speech-timeout",
        *args,
        env={"LOCALAGENT_DATA_DIR": str(data_dir)},
    )


def _captions(caller: Caller) -> list[str]:
    """What the page was sent to show as the bot's words."""
    return [
        str(m["data"].get("text", ""))
        for m in caller.messages
        if m.get("type") in ("bot-output", "bot-transcription") and isinstance(m.get("data"), dict)
    ]


def _said(record: SessionRecord) -> list[str]:
    return [t["text"] for t in record.turns if t["role"] == "assistant"]


async def test_reasoning_in_every_form_is_never_spoken_captioned_or_recorded(
    lines: list[np.ndarray], tmp_path: Path
) -> None:
    model = "qwen3:4b"
    with ThreadedFakeOllama(
        models=(model,), profiles={model: PROFILES["qwen3"]}, default_reply=ANSWER
    ) as ollama:
        with _app(ollama, model, tmp_path) as app:
            assert app.url, app.output
            caller = await _converse(
                app,
                lines[:3],
                [
                    # ignores the request; <think> in content
                    _becomes(ollama, model, "deepseek-r1-inline"),
                    # ignores it; reasoning_content
                    _becomes(ollama, model, "qwen3-vllm"),
                    # ignores it; the answer only as reasoning
                    _becomes(ollama, model, "gemma4-old-ollama"),
                ],
            )
        requests = ollama.server.requests
        # The greeting came from the profile that honours Ollama's switch: no reasoning.
        assert requests and all(r.get("reasoning_effort") == "none" for r in requests)
        assert len(ollama.server.reasoned) >= 3, ollama.server.reasoned
    record = await _ended_record(tmp_path)
    said = _said(record)
    assert len(said) >= 4 and all(s == ANSWER for s in said), said
    page, captions = json.dumps(caller.messages), _captions(caller)
    assert captions.count(ANSWER) >= 4 or " ".join(captions).count("Does that help?") >= 4
    for words in REASONING_WORDS:
        assert words not in page and not any(words in s for s in said), words
    exchanges = [e for e in record.events if e["kind"] == "LLMExchange"]
    reasoned = [e for e in exchanges if e["reasoning"]]
    assert len(reasoned) >= 3 and all(e["reply"].strip() in ("", ANSWER) for e in exchanges)
    assert all("Let me think" in e["reasoning"] and e["reasoning_s"] > 0 for e in reasoned)
    assert not [e for e in record.events if e["kind"] == "ServiceFault"]
    output = app.output
    assert "reasoned" in output and "although asked not to" in output, output[-3000:]
    assert "gave its answer only as reasoning" in output


def _call(name: str, **arguments: Any) -> Reply:
    return Reply(tool_calls=(ToolCall(name, arguments),))


async def test_tool_calls_written_as_text_are_called_and_never_read_aloud(
    lines: list[np.ndarray], tmp_path: Path
) -> None:
    model = "llama3.2:3b"
    replies = [
        Reply("Hello, this is the help desk. What can I do for you?"),
        _call("record_issue", summary="printer prints nothing"),
        Reply("Check that the printer is online. Does that help?"),
        _call("record_issue", summary="red light"),
        Reply("A red light means a paper jam. Can you clear it?"),
        _call("reset_router"),  # offered nowhere: withheld, a tool fault
        _call("finish"),
        Reply("Glad it works now. Goodbye!"),
    ]
    with (
        ThreadedFakeOllama(models=(model,), replies=replies) as ollama,
        _app(ollama, model, tmp_path) as app,
    ):
        assert app.url, app.output
        caller = await _converse(
            app,
            lines,
            [
                _becomes(ollama, model, "llama3.2-json"),
                _becomes(ollama, model, "qwen2.5-hermes"),
                _becomes(ollama, model, "phi4-mini-fenced"),
                _becomes(ollama, model, "mistral-text"),
            ],
        )
    record = await _ended_record(tmp_path)
    assert [c["name"] for c in record.function_calls] == ["record_issue", "record_issue", "finish"]
    assert record.path == ["greet", "help", "help", "goodbye"], record.path
    assert record.state.get("issue") == "red light", record.state
    said, captions = _said(record), _captions(caller)
    assert captions and "Goodbye!" in captions[-1], captions
    for marks in ("{", "tool_call", "TOOL_CALLS", "```", "reset_router", "record_issue"):
        assert not any(marks in s for s in said), (marks, said)
        assert not any(marks in c for c in captions), (marks, captions)
    assert APOLOGIES["tools"] in said, said
    [fault] = [e for e in record.events if e["kind"] == "ServiceFault"]
    assert fault["service"] == "tools" and "withheld" in fault["error"], fault
    assert said[-1] == "Glad it works now. Goodbye!", said


async def test_a_model_without_tools_is_refused_before_the_call_with_the_fix(
    tmp_path: Path,
) -> None:
    profiles = {"gemma3:4b": PROFILES["gemma3"], "qwen3:4b": PROFILES["qwen3"]}
    with (
        ThreadedFakeOllama(models=("gemma3:4b", "qwen3:4b"), profiles=profiles) as ollama,
        _app(ollama, "gemma3:4b", tmp_path) as app,
    ):
        assert app.url, app.output
        assert any(
            "gemma3:4b does not support tools" in line and "--llm-model qwen3:4b" in line
            for line in app.lines
        ), app.output
        status = await asyncio.to_thread(fetch_status, app.url)
        llm = status["ollama"]
        assert llm["refuses_calls"] and not llm["ok"], llm
        assert "--llm-model qwen3:4b" in llm["fix"] and llm["capabilities"]["tools"] is False
        caller = Caller(app.url)
        with pytest.raises(RuntimeError) as refused:
            await caller.connect()
        await caller.close()
        assert "HTTP 503" in str(refused.value) and "qwen3:4b" in str(refused.value)
        # no request with tools ever reached the model
        assert not ollama.server.requests
        # the cockpit's services panel says the same
        settings = Settings(ollama_host=ollama.url, llm_model="gemma3:4b")
        flow = load_flow("helpdesk", REPO_ROOT / "flows")
        from localagent.llm.flow_needs import flow_needs

        line = describe_llm(
            await probe_ollama(ollama.url, "gemma3:4b", needs=flow_needs("helpdesk", flow.flow)),
            settings,
        )
        assert line.startswith("CANNOT CALL") and "does not support tools" in line


async def test_a_flow_too_big_for_the_window_is_flagged_before_the_call_and_trimmed_in_it(
    lines: list[np.ndarray], tmp_path: Path
) -> None:
    model = "llama3.2:3b"
    flow = load_flow("helpdesk", REPO_ROOT / "flows").flow
    # A window the flow's role, tasks and tools fill three quarters of: flagged at once,
    # and full after a few exchanges.
    fixed = flow_largest_request(flow).tokens - HISTORY_TOKENS
    small = ModelProfile("llama", num_ctx=int(fixed / 0.75))
    with ThreadedFakeOllama(
        models=(model,), profiles={model: small}, default_reply=ANSWER
    ) as ollama:
        with _app(ollama, model, tmp_path) as app:
            assert app.url, app.output
            warned = [line for line in app.lines if "context window" in line]
            assert warned and "OLLAMA_CONTEXT_LENGTH" in warned[0], app.output
            status = await asyncio.to_thread(fetch_status, app.url)
            assert status["ollama"]["ok"] and status["ollama"]["notes"], status["ollama"]
            await _converse(app, lines, [lambda: None] * len(lines))
        requests = ollama.server.requests
    assert any("left out" in line for line in app.lines), app.output[-3000:]
    assert not ollama.server.truncated, "a prompt passed the window: Ollama would cut it"
    first_user = requests[1]["messages"][-1]["content"]
    last = requests[-1]["messages"]
    assert first_user not in [m.get("content") for m in last]  # the oldest exchange went
    # every task message the call was given is still there, and the role
    tasks = [m["content"] for m in requests[-1]["messages"] if m["role"] in ("system", "user")]
    assert any("help desk" in t for t in tasks), last
    assert sum("record_issue" in t or "Greet the caller" in t for t in tasks) >= 1, tasks
    record = await _ended_record(tmp_path)
    assert _said(record).count(ANSWER) >= 4


async def test_a_model_that_calls_a_tool_every_turn_is_held_back_until_the_caller_speaks(
    lines: list[np.ndarray], tmp_path: Path
) -> None:
    model = "llama3.2:3b"
    with (
        ThreadedFakeOllama(
            models=(model,), profiles={model: PROFILES["llama3.2-eager"]}, default_reply=ANSWER
        ) as ollama,
        _app(ollama, model, tmp_path) as app,
    ):
        assert app.url, app.output
        asked: list[int] = []

        def count() -> None:
            asked.append(len(ollama.server.requests))

        await _converse(app, lines[:2], [count, count])
        count()
    # Every request ends with a user message (the flow's task messages are user messages
    # on Ollama), so this model calls record_issue again after each transition; the
    # guard stops it and the model is not asked again before the caller speaks.
    per_turn = [b - a for a, b in zip(asked, asked[1:], strict=False)]
    assert asked[0] <= 13 and all(n <= 13 for n in per_turn), asked
    record = await _ended_record(tmp_path)
    faults = [e for e in record.events if e["kind"] == "ServiceFault"]
    assert len(faults) == 3 and all(f["service"] == "tools" for f in faults), faults
    assert _said(record).count(APOLOGIES["tools"]) == 3
    assert any("not asked again until the caller speaks" in line for line in app.lines)
