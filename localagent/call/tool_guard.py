"""Stops an LLM that keeps calling tools without getting anywhere.

Small local models loop: a tool called with bad arguments is refused, the model calls it
again the same way, and the caller hears nothing while the LLM is asked over and over (163
calls in 8.7 s was seen). The guard sits right after the LLM and counts, since the caller's
last turn, the calls in a row that were refused (the handler failed, the flow answered
"error" or "invalid", or the tool does not exist in this node) or repeated one already made
with the same arguments; a call that takes effect starts the count again. When that count
reaches the limit, the result that reached it goes on with `run_llm` off, and the LLM
asks `stopped` before each request (a flow's transition runs the model on its own), so the
model is not asked again until the caller speaks; the call is told, so the caller hears
that the step could not be done and is asked how to go on.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any

from pipecat.frames.frames import Frame, FunctionCallResultFrame, UserStartedSpeakingFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

__all__ = ["ToolLoopGuard", "refused"]

# What pipecat and the flows answer for a call that did not take effect.
_REFUSED_STATUSES = ("error", "invalid")
_REFUSED_TEXTS = ("is not currently available", "failed and returned no result")
# Distinct calls that each succeed still end the turn at this many times the limit.
_RUNAWAY_FACTOR = 4


def refused(frame: FunctionCallResultFrame) -> bool:
    result = frame.result
    if frame.error is not None:
        return True
    if isinstance(result, dict):
        return result.get("status") in _REFUSED_STATUSES
    return isinstance(result, str) and any(text in result for text in _REFUSED_TEXTS)


def _key(frame: FunctionCallResultFrame) -> str:
    try:
        arguments = json.dumps(frame.arguments, sort_keys=True, default=str)
    except (TypeError, ValueError):
        arguments = repr(frame.arguments)
    return f"{frame.function_name}({arguments})"


class ToolLoopGuard(FrameProcessor):
    def __init__(self, *, limit: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._limit = limit
        # Told what the loop was once it is stopped; the call sets it when it wires itself.
        self.on_loop: Callable[[str], Awaitable[None]] | None = None
        self._seen: set[str] = set()
        self._calls = 0
        self._fruitless = 0
        self._stopped = False
        self.loops_stopped = 0

    @property
    def stopped(self) -> bool:
        """A loop was stopped and the caller has not spoken since: do not ask the model."""
        return self._stopped

    def user_turn(self) -> None:
        """The caller spoke: the model may try again."""
        self._seen.clear()
        self._calls = self._fruitless = 0
        self._stopped = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, UserStartedSpeakingFrame):
            self.user_turn()  # before a speculative answer to the new turn is asked for
        if direction == FrameDirection.DOWNSTREAM and isinstance(frame, FunctionCallResultFrame):
            description = self._count(frame)
            if self._stopped:
                _no_more_llm(frame)
            await self.push_frame(frame, direction)
            if description is not None and self.on_loop is not None:
                await self.on_loop(description)
            return
        await self.push_frame(frame, direction)

    def _count(self, frame: FunctionCallResultFrame) -> str | None:
        """A description of the loop if this result is the one that ends it."""
        key = _key(frame)
        self._calls += 1
        # In a row: a call that takes effect is progress, and the count starts again.
        fruitless = refused(frame) or key in self._seen
        self._fruitless = self._fruitless + 1 if fruitless else 0
        self._seen.add(key)
        if self._stopped:
            return None
        if self._fruitless >= self._limit:
            what = f"the model called {frame.function_name} {self._calls} times"
            why = f"the last {self._fruitless} refused or repeated"
        elif self._calls >= self._limit * _RUNAWAY_FACTOR:
            what = f"the model made {self._calls} tool calls"
            why = "without the caller saying anything in between"
        else:
            return None
        self._stopped = True
        self.loops_stopped += 1
        return f"{what} ({why}); stopped at the limit of {self._limit}"


def _no_more_llm(frame: FunctionCallResultFrame) -> None:
    frame.run_llm = False
    if frame.properties is not None:
        frame.properties = dataclasses.replace(frame.properties, run_llm=False)
