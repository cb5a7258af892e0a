"""Each LLM inference of a call as one event: the context sent, the reply, tokens, tools.

An observer, so the call itself is untouched. It watches the frames around the LLM
service: the context frame that starts an inference, the text and function calls it
pushes, pipecat's usage and TTFB metrics, and the end of the response. An inference that
never ends (an interruption, a withdrawn speculation, a new context before the end) is
published as cut short, so a loop or a lost answer is visible rather than missing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from pipecat.frames.frames import (
    EagerEndOfTurnCancelFrame,
    FunctionCallResultFrame,
    FunctionCallsStartedFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMTextFrame,
    LLMThoughtEndFrame,
    LLMThoughtTextFrame,
    MetricsFrame,
)
from pipecat.metrics.metrics import LLMUsageMetricsData, TTFBMetricsData
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from localagent.call.tool_guard import refused
from localagent.events import EventBus, LLMExchange, ToolResult

__all__ = ["LLMExchangeObserver"]


def _plain(value: Any) -> Any:
    """JSON-able copy (an LLMSpecificMessage or a pydantic value becomes its text)."""
    return json.loads(json.dumps(value, default=str))


def _tool_names(tools: Any) -> tuple[str, ...]:
    standard = getattr(tools, "standard_tools", None) or []
    return tuple(str(getattr(t, "name", t)) for t in standard)


@dataclass
class _Open:
    started: float
    messages: tuple[Any, ...]
    tools: tuple[str, ...]
    speculative: bool
    reply: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tokens_in: int | None = None
    tokens_out: int | None = None
    ttfb: float | None = None
    reasoning: str = ""
    thought_from: float | None = None  # when the first reasoning came
    thought_until: float | None = None  # when the last reasoning ended


class LLMExchangeObserver(BaseObserver):
    def __init__(self, bus: EventBus, call_id: str, llm: FrameProcessor) -> None:
        super().__init__()
        self._bus, self._call, self._llm = bus, call_id, llm
        self._open: _Open | None = None
        self._count = 0

    async def on_push_frame(self, data: FramePushed) -> None:
        frame = data.frame
        if isinstance(frame, FunctionCallResultFrame) and data.source is self._llm:
            if data.direction == FrameDirection.DOWNSTREAM:  # it is sent both ways
                self._bus.publish(
                    ToolResult(
                        self._call,
                        tool_call_id=frame.tool_call_id,
                        name=frame.function_name,
                        result=_plain(frame.result),
                        refused=refused(frame),
                    )
                )
            return
        # A new inference: a turn's context comes down, a tool result's goes back up.
        if isinstance(frame, LLMContextFrame) and data.destination is self._llm:
            self._finish(complete=False)  # the one before never ended
            self._open = _Open(
                started=time.monotonic(),
                messages=tuple(_plain(list(frame.context.get_messages()))),
                tools=_tool_names(frame.context.tools),
                speculative=frame.speculation,
            )
            return
        if self._open is None:
            return
        if data.direction != FrameDirection.DOWNSTREAM:
            return
        if isinstance(frame, EagerEndOfTurnCancelFrame) and self._llm in (
            data.source,
            data.destination,
        ):
            # A speculation withdrawn: the caller went on, or it wanted a tool (which the
            # LLM withdraws itself, to ask again once the turn is over).
            self._finish(complete=False)
        elif data.source is not self._llm:
            return
        elif isinstance(frame, LLMThoughtTextFrame):
            self._open.reasoning += frame.text
            if self._open.thought_from is None:
                self._open.thought_from = time.monotonic()
        elif isinstance(frame, LLMThoughtEndFrame):
            self._open.thought_until = time.monotonic()
        elif isinstance(frame, LLMTextFrame):
            self._open.reply += frame.text
        elif isinstance(frame, FunctionCallsStartedFrame):
            self._open.tool_calls += [
                {"id": c.tool_call_id, "name": c.function_name, "arguments": _plain(c.arguments)}
                for c in frame.function_calls
            ]
        elif isinstance(frame, MetricsFrame):
            for metric in frame.data:
                if isinstance(metric, LLMUsageMetricsData):
                    self._open.tokens_in = metric.value.prompt_tokens
                    self._open.tokens_out = metric.value.completion_tokens
                elif isinstance(metric, TTFBMetricsData) and self._open.ttfb is None:
                    self._open.ttfb = metric.value
        elif isinstance(frame, LLMFullResponseEndFrame):
            self._finish(complete=True)
        elif isinstance(frame, InterruptionFrame):
            self._finish(complete=False)

    def _finish(self, *, complete: bool) -> None:
        open_, self._open = self._open, None
        if open_ is None:
            return
        self._count += 1
        self._bus.publish(
            LLMExchange(
                self._call,
                index=self._count,
                messages=open_.messages,
                tools=open_.tools,
                reply=open_.reply,
                tool_calls=tuple(open_.tool_calls),
                tokens_in=open_.tokens_in,
                tokens_out=open_.tokens_out,
                ttfb=open_.ttfb,
                duration=time.monotonic() - open_.started,
                speculative=open_.speculative,
                complete=complete,
                reasoning=open_.reasoning,
                reasoning_s=_span(open_.started, open_.ttfb, open_.thought_until),
            )
        )


def _span(started: float, ttfb: float | None, until: float | None) -> float | None:
    """Reasoning's cost: from the first token (when the server started answering) until
    the reasoning ended."""
    if until is None:
        return None
    return max(0.0, until - started - (ttfb or 0.0))
