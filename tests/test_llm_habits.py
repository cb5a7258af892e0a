"""The decisions about a model's wire habits, without a server: reasoning told from speech,
tool calls written as text, capabilities read from the server's documents, the thinking
switch each server is sent, and the context budget."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from openai.types.chat import ChatCompletionChunk
from pipecat.frames.frames import Frame, LLMThoughtTextFrame

from localagent.call.model_stream import AnswerHabits, FilteredStream
from localagent.flows.loader import load_flow
from localagent.llm.capabilities import OLLAMA_DEFAULT_CONTEXT, from_ollama, from_openai_server
from localagent.llm.context_budget import (
    WARN_FRACTION,
    budget_warning,
    estimate_request,
    flow_largest_request,
    trim_history,
)
from localagent.llm.flow_needs import flow_needs, notes_for, refuses_tools
from localagent.llm.reasoning import ThinkSplitter, last_resort_answer
from localagent.llm.text_tools import ToolTextScanner, offered_functions, parse_calls
from localagent.llm.thinking import NO_THINK, thinking_request
from localagent.settings import REPO_ROOT

ANSWER = "Try turning the printer off and on again. Does that help?"
REASONING = "Okay, the user has a printer problem. Let me think about a short fix."


def _split(text: str, size: int) -> tuple[str, str]:
    splitter, pieces = ThinkSplitter(), []
    for i in range(0, len(text), size):
        pieces += splitter.feed(text[i : i + size])
    pieces += splitter.close()
    speech = "".join(p.text for p in pieces if p.kind == "speech")
    return speech, "".join(p.text for p in pieces if p.kind == "reasoning")


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
@pytest.mark.parametrize("tag", ["think", "thinking", "THINK"])
def test_inline_reasoning_is_told_from_speech_however_the_stream_is_cut(
    size: int, tag: str
) -> None:
    text = f"<{tag}>\n{REASONING}\n</{tag}>\n\n{ANSWER}"
    assert _split(text, size) == (ANSWER, f"\n{REASONING}\n")


def test_text_that_only_looks_like_a_tag_is_speech() -> None:
    assert _split("If a < b then <this> is fine.", 2) == ("If a < b then <this> is fine.", "")
    # a stream cut inside its reasoning: the reasoning is never spoken
    assert _split(f"<think>{REASONING}", 5) == ("", REASONING)


def test_the_last_resort_answer_is_the_reasoning_s_last_sentences() -> None:
    trace = f"{REASONING}\n\nThe caller wants help. {ANSWER}"
    assert last_resort_answer(trace) == f"The caller wants help. {ANSWER}"
    assert last_resort_answer("One. Two. Three. Four.") == "Two. Three. Four."
    assert last_resort_answer("  \n\n ") == ""


OFFERED = offered_functions(
    [
        {
            "type": "function",
            "function": {
                "name": "record_issue",
                "parameters": {
                    "type": "object",
                    "properties": {"summary": {"type": "string"}},
                    "required": ["summary"],
                },
            },
        },
        {"type": "function", "function": {"name": "finish", "parameters": {}}},
    ]
)
CALL = {"name": "record_issue", "arguments": {"summary": "printer jam"}}


def _scan(text: str, size: int) -> tuple[str, list[str]]:
    scanner, said = ToolTextScanner(), ""
    for i in range(0, len(text), size):
        said += scanner.feed(text[i : i + size])
    said += scanner.close()
    return said, scanner.captured


@pytest.mark.parametrize("size", [1, 4, 1000])
@pytest.mark.parametrize(
    "written",
    [
        json.dumps({"name": "record_issue", "parameters": {"summary": "printer jam"}}),
        "```json\n" + json.dumps(CALL) + "\n```",
        "<tool_call>\n" + json.dumps(CALL) + "\n</tool_call>",
        "[TOOL_CALLS][" + json.dumps(CALL) + "]",
        "<|python_tag|>" + json.dumps(CALL),
        json.dumps(
            {"type": "function", "function": {**CALL, "arguments": '{"summary": "printer jam"}'}}
        ),
    ],
    ids=["llama-json", "fenced", "hermes", "mistral", "python-tag", "openai-shape"],
)
def test_a_tool_call_written_as_text_is_held_back_and_parsed(written: str, size: int) -> None:
    said, captured = _scan(f"Let me note that. {written}", size)
    assert said == "Let me note that. "
    [held] = captured
    [call] = parse_calls(held, OFFERED) or []
    assert (call.name, call.arguments) == ("record_issue", {"summary": "printer jam"})


def test_written_calls_that_match_no_offered_function_are_none() -> None:
    assert parse_calls(json.dumps({"name": "reset_router", "arguments": {}}), OFFERED) is None
    assert parse_calls(json.dumps({"name": "record_issue", "arguments": {}}), OFFERED) is None
    assert parse_calls('{"name": "record_issue", "arguments": {"summary": ', OFFERED) is None
    assert parse_calls("```python\nprint('hi')\n```", OFFERED) is None
    two = json.dumps(CALL) + "\n" + json.dumps({"name": "finish", "arguments": {}})
    assert [c.name for c in parse_calls(two, OFFERED) or []] == ["record_issue", "finish"]


def test_brackets_and_speech_without_a_call_pass_untouched() -> None:
    for text in ("I can help [with that].", "It costs 5 dollars.", "Yes [1] and no."):
        assert _scan(text, 1) == (text, [])


def test_capabilities_from_ollama_show_and_ps() -> None:
    show = {
        "capabilities": ["completion", "tools", "thinking"],
        "model_info": {"qwen3.context_length": 40960},
        "parameters": "temperature 0.6\nnum_ctx 8192",
    }
    caps = from_ollama("qwen3:4b", show)
    assert (caps.tools, caps.thinking, caps.context_tokens) == (True, True, 8192)
    assert caps.trained_tokens == 40960
    loaded = {"models": [{"name": "qwen3:4b", "model": "qwen3:4b", "context_length": 16384}]}
    assert from_ollama("qwen3:4b", show, loaded).context_tokens == 16384
    bare = from_ollama("gemma3:4b", {"capabilities": ["completion"]})
    assert (bare.tools, bare.thinking) == (False, False)
    assert bare.context_tokens == OLLAMA_DEFAULT_CONTEXT and "assumed" in bare.context_source
    assert from_ollama("x", {}).tools is None  # an Ollama too old to say


def test_capabilities_from_an_openai_compatible_server() -> None:
    vllm = {"data": [{"id": "Qwen/Qwen3-4B", "max_model_len": 32768}]}
    assert from_openai_server("Qwen/Qwen3-4B", vllm).context_tokens == 32768
    llama_cpp = {"data": [{"id": "m.gguf", "meta": {"n_ctx_train": 131072}}]}
    props = {"default_generation_settings": {"n_ctx": 4096}}
    caps = from_openai_server("m.gguf", llama_cpp, props)
    assert (caps.context_tokens, caps.trained_tokens, caps.tools) == (4096, 131072, None)


def test_each_server_is_sent_its_own_thinking_switch() -> None:
    thinks = from_ollama("qwen3:4b", {"capabilities": ["completion", "tools", "thinking"]})
    plain = from_ollama("llama3.2:3b", {"capabilities": ["completion", "tools"]})
    off = thinking_request(model="qwen3:4b", ollama=True, capabilities=thinks, thinking=False)
    assert off.fields == {"reasoning_effort": "none"} and not off.extra_body
    gpt_oss = thinking_request(
        model="gpt-oss:20b", ollama=True, capabilities=thinks, thinking=False
    )
    assert gpt_oss.fields == {"reasoning_effort": "low"}  # it cannot stop, only think less
    assert (
        thinking_request(
            model="llama3.2:3b", ollama=True, capabilities=plain, thinking=False
        ).fields
        == {}
    )
    assert (
        thinking_request(model="qwen3:4b", ollama=True, capabilities=thinks, thinking=True).fields
        == {}
    )
    vllm = thinking_request(model="Qwen/Qwen3-4B", ollama=False, capabilities=None, thinking=False)
    assert vllm.extra_body == {"chat_template_kwargs": {"enable_thinking": False}}
    assert vllm.system_suffix == NO_THINK
    assert (
        thinking_request(
            model="m.gguf", ollama=False, capabilities=None, thinking=False
        ).system_suffix
        == ""
    )


def _exchange(n: int) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": f"question {n} " + "words " * 40},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": f"c{n}", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": f"c{n}", "content": "ok"},
        {"role": "developer", "content": f"task of node {n}"},
        {"role": "assistant", "content": f"answer {n} " + "words " * 40},
    ]


def test_trimming_leaves_out_whole_old_exchanges_and_keeps_the_tasks() -> None:
    messages = [{"role": "developer", "content": "greet"}, {"role": "assistant", "content": "Hi"}]
    for n in range(8):
        messages += _exchange(n)
    full = estimate_request(None, messages)
    kept = trim_history(messages, keep_tokens=full // 2, fixed_tokens=0)
    assert estimate_request(None, kept) <= full // 2 + 200  # the answer's room, counted once
    # every task stays, the turn being answered stays whole, no tool result is orphaned
    assert [m for m in kept if m["role"] == "developer"] == [
        m for m in messages if m["role"] == "developer"
    ]
    assert kept[-5:] == messages[-5:]
    calls = {c["id"] for m in kept for c in m.get("tool_calls") or []}
    assert {m["tool_call_id"] for m in kept if m["role"] == "tool"} == calls
    assert "question 0" not in json.dumps(kept) and "question 7" in json.dumps(kept)
    # nothing to leave out when it fits
    assert trim_history(messages, keep_tokens=full, fixed_tokens=0) == messages


def test_old_task_messages_go_only_when_the_exchanges_alone_are_not_enough() -> None:
    # a node entered again and again: a task message each time (the flow appends them)
    messages: list[dict[str, Any]] = []
    for n in range(30):
        messages += [
            {"role": "user", "content": f"line {n}"},
            {"role": "developer", "content": f"task {n} " + "words " * 60},
            {"role": "assistant", "content": f"answer {n}"},
        ]
    budget = estimate_request(None, messages) // 3
    kept = trim_history(messages, keep_tokens=budget, fixed_tokens=0)
    assert estimate_request(None, kept) <= budget + 200
    assert kept[-6:] == messages[-6:]  # the last two exchanges, whole
    tasks = [m["content"] for m in kept if m["role"] == "developer"]
    assert tasks and "task 0 " not in " ".join(tasks) and tasks[-1].startswith("task 29")
    # the node the call is in keeps its task, however old: here it was entered first
    one_node = [{"role": "developer", "content": "greet " + "words " * 60}]
    for n in range(30):
        one_node += [
            {"role": "user", "content": f"line {n}"},
            {"role": "assistant", "content": "ok"},
        ]
    kept = trim_history(one_node, keep_tokens=10, fixed_tokens=0)
    assert kept[0] == one_node[0] and kept[-4:] == one_node[-4:] and len(kept) == 5


def test_the_budget_warns_past_its_share_of_the_window_with_the_fix() -> None:
    assert budget_warning(1000, 4096, "m", ollama=True) == ""
    warning = budget_warning(int(WARN_FRACTION * 2048) + 1, 2048, "llama3.2:3b", ollama=True)
    assert "2048-token context window" in warning and "OLLAMA_CONTEXT_LENGTH" in warning
    assert "--max-model-len" in budget_warning(2000, 2048, "m", ollama=False)
    assert budget_warning(5000, None, "m", ollama=True) == ""


@pytest.mark.parametrize("name", ["helpdesk", "booking", "triage"])
def test_the_shipped_flows_needs_are_estimated(name: str) -> None:
    flow = load_flow(name, REPO_ROOT / "flows")
    needs = flow_needs(name, flow.flow)
    largest = flow_largest_request(flow.flow)
    assert needs.tools and needs.largest == largest
    assert largest.node in flow.flow.config.nodes
    # roles, tasks and tools of a small flow, and the conversation's room: about a thousand
    assert 800 < largest.tokens < 2000, largest
    no_tools = from_ollama("gemma3:4b", {"capabilities": ["completion"]})
    assert refuses_tools(needs, no_tools) and not refuses_tools(needs, None)
    small = from_ollama("m", {"capabilities": ["tools"], "parameters": "num_ctx 1024"})
    [note] = notes_for(needs, small, "m", ollama=True)
    assert "1024-token context window" in note


class _LLM:
    """Where the stream pushes its thought frames."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    async def push_frame(self, frame: Frame) -> None:
        self.frames.append(frame)


def _chunk(**delta: Any) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        }
    )


async def _read(chunks: list[ChatCompletionChunk]) -> tuple[str, list[Any], _LLM, AnswerHabits]:
    async def source() -> AsyncIterator[ChatCompletionChunk]:
        for chunk in chunks:
            yield chunk

    llm, habits = _LLM(), AnswerHabits()
    withheld: list[str] = []

    async def tell(text: str) -> None:
        withheld.append(text)

    stream = FilteredStream(
        source(),
        llm=llm,
        offered=OFFERED,
        habits=habits,
        on_withheld=tell,  # type: ignore[arg-type]
    )
    text, calls = "", []
    async for chunk in stream:
        delta = chunk.choices[0].delta
        text += delta.content or ""
        calls += [(c.function.name, c.function.arguments) for c in delta.tool_calls or []]
    await stream.close()
    return text, calls + withheld, llm, habits


def _thoughts(llm: _LLM) -> str:
    return "".join(f.text for f in llm.frames if isinstance(f, LLMThoughtTextFrame))


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
async def test_reasoning_fields_become_thoughts_and_only_the_answer_is_text(field: str) -> None:
    chunks = [_chunk(role="assistant", content="")]
    chunks += [_chunk(**{field: w + " "}) for w in REASONING.split()]
    chunks += [_chunk(content=w + " ") for w in ANSWER.split()]
    text, calls, llm, habits = await _read(chunks)
    assert text.strip() == ANSWER and calls == []
    assert _thoughts(llm).split() == REASONING.split()
    assert (habits.reasoned, habits.from_reasoning) == (1, 0)


async def test_an_answer_only_in_the_reasoning_is_taken_from_it() -> None:
    chunks = [_chunk(reasoning=REASONING), _chunk(reasoning="\n\n" + ANSWER), _chunk(content="")]
    text, _, _, habits = await _read(chunks)
    assert text == ANSWER and habits.from_reasoning == 1


async def test_written_calls_become_tool_calls_and_strays_are_withheld() -> None:
    written = "<tool_call>\n" + json.dumps(CALL) + "\n</tool_call>"
    text, calls, _, habits = await _read([_chunk(content=c) for c in written])
    assert text == "" and calls == [("record_issue", json.dumps(CALL["arguments"]))]
    assert habits.text_tool_calls == 1
    stray = 'Sure. {"name": "reset_router", "arguments": {}}'
    text, calls, _, habits = await _read([_chunk(content=c) for c in stray])
    assert text == "Sure. " and len(calls) == 1 and "reset_router" in calls[0]
    assert habits.withheld == 1
