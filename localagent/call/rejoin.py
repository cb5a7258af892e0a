"""A turn taken too early, answered whole: the caller's two parts become one message.

When the end of turn came too soon and the caller went on (`turns.actions.Rejoin`), barge-in
has already stopped the answer, and pipecat has written what the caller heard of it to the
context as an interrupted assistant message. Left so, the LLM would read the caller's turn
as two (a statement, a half answer, more of the statement) and answer only the second
part. In front of the LLM, this puts the turn back together: the turn's first part, the
interrupted answer and its second part become one user message, in the context the LLM
answers from (a speculative answer's provisional copy too) and in the call's own context.

Only a plain spoken answer is taken back: if the first part led to a tool call or a flow's
new node, what happened stays, and the second part is a turn of its own; so it does if the
bot starts another answer before the caller's second part is written (their going on held
no words, and pipecat answered the first part again).
"""

from __future__ import annotations

from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    Frame,
    LLMContextFrame,
    LLMContextUserTurnFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

__all__ = ["TurnRejoin", "rejoined"]


def rejoined(messages: list[Any]) -> list[Any] | None:
    """`messages` with the last two user messages made one, dropping the assistant's plain
    answers between them; None when the last two are not that (a tool call, a system
    message, or no earlier user message)."""
    users = [i for i, m in enumerate(messages) if _role(m) == "user"]
    if len(users) < 2:
        return None
    first, last = users[-2], users[-1]
    if last != len(messages) - 1:
        return None
    between = messages[first + 1 : last]
    if not all(_role(m) == "assistant" and _plain(m) for m in between):
        return None
    a, b = _text(messages[first]), _text(messages[last])
    if a is None or b is None:
        return None
    merged = {**messages[first], "content": f"{a} {b}".strip()}
    return [*messages[:first], merged]


def _role(message: Any) -> str | None:
    return message.get("role") if isinstance(message, dict) else None


def _plain(message: dict[str, Any]) -> bool:
    return not message.get("tool_calls") and isinstance(message.get("content", ""), str)


def _text(message: dict[str, Any]) -> str | None:
    content = message.get("content")
    return content.strip() if isinstance(content, str) else None


class TurnRejoin(FrameProcessor):
    """In front of the LLM: after `expect()`, the next user turn is joined to the last."""

    def __init__(self, context: LLMContext, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._context = context
        self._pending = False
        self._joined: str | None = None  # a turn joined, its going on not yet asked about
        self._asked = False  # the pending turn's going on was asked about before its join
        self.rejoined = 0

    def expect(self) -> None:
        """The caller went on with the turn just answered (`Rejoin`)."""
        self._pending, self._asked = True, False

    def goes_on(self, text: str) -> bool:
        """Whether the user turn `text`, just ended, goes on with the one before it (it
        was joined to it, or is about to be: this may be asked before the frame that
        joins it gets here)."""
        going_on = self._pending or text == self._joined
        self._joined = None
        self._asked = self._pending
        return going_on

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, BotStartedSpeakingFrame):
            # the bot answered since (the caller's going on held no words, and pipecat
            # answered the first part again): that turn stands as it is
            self._pending = False
        elif self._pending and direction == FrameDirection.DOWNSTREAM:
            if isinstance(frame, LLMContextFrame) and frame.speculation:
                # a provisional copy, ending with the turn so far
                self._join(frame.context)
            elif isinstance(frame, LLMContextUserTurnFrame):
                # the turn's message has just been written to the call's context, before
                # the LLMContextFrame that asks for its answer, if one does
                self._pending = False
                if self._join(self._context):
                    self.rejoined += 1
                    self._joined = None if self._asked else frame.text
        await self.push_frame(frame, direction)

    @staticmethod
    def _join(context: LLMContext) -> bool:
        messages = rejoined(list(context.get_messages()))
        if messages is None:
            logger.debug("the turn the caller went on with led elsewhere: not joined")
            return False
        context.set_messages(messages)
        return True
