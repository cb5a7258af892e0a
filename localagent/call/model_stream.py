"""The LLM's answer stream, read the way a voice call needs it.

Between the OpenAI client and pipecat's reading of the chunks, so everything after it
(captions, TTS, the record, the flow's tool calls) sees only what should be spoken or
called:
- reasoning, whether it comes as `delta.reasoning` (Ollama's OpenAI endpoint),
  `delta.reasoning_content` (vLLM, llama.cpp's server) or inline `<think>` tags in the
  content, is pushed as pipecat's thought frames (never spoken, captioned or recorded as
  speech; the cockpit's LLM turns show it), and its length is measured;
- tool calls written as text are made real tool calls when they name an offered function
  with its required arguments, else withheld and reported as a tool fault;
- an answer that came only as reasoning (gemma4 on Ollama's OpenAI endpoint) is taken from
  the reasoning's last sentences, as a last resort, and counted.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from openai.types.chat import ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import (
    Choice,
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)
from pipecat.frames.frames import LLMThoughtEndFrame, LLMThoughtStartFrame, LLMThoughtTextFrame
from pipecat.processors.frame_processor import FrameProcessor

from localagent.llm.reasoning import ThinkSplitter, last_resort_answer
from localagent.llm.text_tools import Offered, ToolTextScanner, parse_calls

__all__ = ["AnswerHabits", "FilteredStream"]

# Where OpenAI-compatible servers put a reasoning trace in a chunk's delta.
_REASONING_FIELDS = ("reasoning", "reasoning_content")


@dataclass
class AnswerHabits:
    """What the model's answers have done so far in this call, for the cockpit."""

    reasoned: int = 0  # answers that came with reasoning
    from_reasoning: int = 0  # answers taken from the reasoning as a last resort
    text_tool_calls: int = 0  # tool calls written as text, made real calls
    withheld: int = 0  # text that looked like a tool call and was not spoken
    last_withheld: bool = False  # the latest answer's only content was withheld


class FilteredStream:
    """Wraps the client's chunk stream; pipecat iterates it and closes it as its own."""

    def __init__(
        self,
        inner: Any,
        *,
        llm: FrameProcessor,
        offered: Mapping[str, Offered],
        habits: AnswerHabits,
        on_withheld: Callable[[str], Awaitable[None]] | None = None,
        on_reasoned: Callable[[float, bool], None] | None = None,
    ) -> None:
        self._inner = inner
        self._llm = llm
        self._offered = offered
        self._habits = habits
        self._on_withheld = on_withheld
        self._on_reasoned = on_reasoned  # (seconds, answer taken from the reasoning)
        self._iterator = self._chunks()
        self._started = time.monotonic()
        self._thinking = False  # a thought frame is open
        self._counted = False  # this answer's reasoning time is in the habits
        self._reasoned_s = 0.0
        self._from_reasoning = False
        self._spoke = False
        self._native_calls = 0  # highest tool-call index seen, plus one
        self._reasoning: list[str] = []
        self._template: ChatCompletionChunk | None = None

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self._iterator

    async def close(self) -> None:
        await self._iterator.aclose()
        closing = getattr(self._inner, "close", None)
        if closing is not None:
            await closing()

    async def _chunks(self) -> AsyncGenerator[ChatCompletionChunk, None]:
        splitter, scanner = ThinkSplitter(), ToolTextScanner()
        async for chunk in self._inner:
            if self._template is None:
                self._template = chunk
            delta = chunk.choices[0].delta if chunk.choices else None
            if delta is None:
                yield chunk
                continue
            extra = delta.model_extra or {}
            for name in _REASONING_FIELDS:
                if isinstance(extra.get(name), str) and extra[name]:
                    await self._thought(extra[name])
            if delta.tool_calls:
                await self._end_thought()
                self._native_calls = max(
                    [self._native_calls, *(c.index + 1 for c in delta.tool_calls)]
                )
            if delta.content:
                speech = []
                for piece in splitter.feed(delta.content):
                    if piece.kind == "reasoning":
                        await self._thought(piece.text)
                    else:
                        speech.append(piece.text)
                delta.content = await self._speech(scanner.feed("".join(speech))) or None
            yield chunk
        tail = []
        for piece in splitter.close():
            if piece.kind == "reasoning":
                await self._thought(piece.text)
            else:
                tail.append(piece.text)
        said = await self._speech(scanner.feed("".join(tail)) + scanner.close())
        if said:
            yield self._content(said)
        calls, withheld = [], []
        for captured in scanner.captured:
            parsed = parse_calls(captured, self._offered)
            if parsed is None:
                withheld.append(captured)
            else:
                calls += parsed
        for index, call in enumerate(calls, start=self._native_calls):
            self._habits.text_tool_calls += 1
            yield self._tool_call(index, call.name, call.arguments)
        if not (self._spoke or calls or self._native_calls) and self._reasoning:
            answer = last_resort_answer("".join(self._reasoning))
            if answer:
                self._from_reasoning = True
                self._habits.from_reasoning += 1
                self._spoke = True
                yield self._content(answer)
        await self._end_thought()
        if self._counted and self._on_reasoned is not None:
            self._on_reasoned(self._reasoned_s, self._from_reasoning)
        self._habits.last_withheld = bool(withheld) and not (self._spoke or calls)
        if withheld:
            self._habits.withheld += 1
            if self._on_withheld is not None:
                await self._on_withheld(" ".join(" ".join(withheld).split())[:200])

    async def _speech(self, text: str) -> str:
        if text.strip():
            await self._end_thought()
            self._spoke = True
        return text

    async def _thought(self, text: str) -> None:
        if not self._thinking:
            self._thinking = True
            await self._llm.push_frame(LLMThoughtStartFrame())
        self._reasoning.append(text)
        await self._llm.push_frame(LLMThoughtTextFrame(text=text))

    async def _end_thought(self) -> None:
        if not self._thinking:
            return
        self._thinking = False
        await self._llm.push_frame(LLMThoughtEndFrame())
        if not self._counted:
            # the reasoning's cost: from the answer's start until speech could start
            self._counted = True
            self._reasoned_s = time.monotonic() - self._started
            self._habits.reasoned += 1

    def _chunk(self, delta: ChoiceDelta) -> ChatCompletionChunk:
        template = self._template
        return ChatCompletionChunk(
            id=template.id if template else "localagent",
            created=template.created if template else int(time.time()),
            model=template.model if template else "",
            object="chat.completion.chunk",
            choices=[Choice(index=0, delta=delta, finish_reason=None)],
        )

    def _content(self, text: str) -> ChatCompletionChunk:
        return self._chunk(ChoiceDelta(content=text))

    def _tool_call(self, index: int, name: str, arguments: dict[str, Any]) -> ChatCompletionChunk:
        call = ChoiceDeltaToolCall(
            index=index,
            id=f"text_call_{index}_{int(time.monotonic() * 1000)}",
            type="function",
            function=ChoiceDeltaToolCallFunction(name=name, arguments=json.dumps(arguments)),
        )
        return self._chunk(ChoiceDelta(tool_calls=[call]))
