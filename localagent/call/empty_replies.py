"""LLM answers that say nothing: no text to speak and no tool to call.

An Ollama (or a proxy in front of it) can answer 200 with an HTML error page, a plain JSON
completion where a stream was asked for, or an empty body. The OpenAI client pipecat uses
reads such a stream as zero events and pipecat ends the response without an error, so the
caller would hear silence and nothing would be recorded. This observer notices the empty
response so the call can report it like any other LLM fault.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pipecat.frames.frames import (
    EagerEndOfTurnCancelFrame,
    ErrorFrame,
    FunctionCallsStartedFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.processors.frame_processor import FrameProcessor

__all__ = ["EmptyReplyObserver"]


class EmptyReplyObserver(BaseObserver):
    def __init__(self, llm: FrameProcessor, on_empty: Callable[[], Awaitable[None]]) -> None:
        super().__init__(observe_every_push=False)
        self._llm = llm
        self._on_empty = on_empty
        self._open = False  # inside a response, with nothing said or called yet

    async def on_push_frame(self, data: FramePushed) -> None:
        frame = data.frame
        if isinstance(frame, (InterruptionFrame, EagerEndOfTurnCancelFrame)):
            # the caller spoke, or went on after a speculative answer had begun: an
            # unfinished answer is not a fault
            self._open = False
        if data.source is not self._llm:
            return
        if isinstance(frame, LLMFullResponseStartFrame):
            self._open = True
        elif isinstance(frame, (FunctionCallsStartedFrame, ErrorFrame)) or (
            isinstance(frame, LLMTextFrame) and frame.text.strip()
        ):
            self._open = False
        elif isinstance(frame, LLMFullResponseEndFrame) and self._open:
            self._open = False
            await self._on_empty()
