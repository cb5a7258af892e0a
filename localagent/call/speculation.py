"""Speculative answers: the LLM and the TTS answer a turn before it is judged over.

When the caller has stopped and whisper's transcript is final but the end of the turn is
still pending (smart-turn heard an unfinished sentence, or the words are worth a longer
wait), the end-of-turn decision (`localagent.turns.end_of_turn`) starts the inference at
once on a provisional context (pipecat's `UserTurnSpeculation`). pipecat holds a
speculative response in the LLM service's own `SpeculationGate`, which would leave the TTS
idle until the turn is confirmed; here the LLM lets it through and a second gate holds it
after the TTS instead, so the answer is synthesized while the decision waits and released
the instant the turn is over.

If the caller goes on, the strategy withdraws the speculation (`EagerEndOfTurnCancelFrame`,
pipecat's): the LLM stops generating, the TTS drops what it was synthesizing and the hold
drops what it held, so nothing withdrawn reaches the avatar, the caller, the captions, the
context or the record.
"""

from __future__ import annotations

from typing import Any

from pipecat.frames.frames import Frame, LLMContextFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.turns.speculation_gate import GatedFrame, SpeculationGate, SpeculationState

__all__ = ["LLMPassGate", "SpeculationTap", "SpeculativeHold"]


class LLMPassGate(SpeculationGate):
    """The LLM service's gate, tracking speculations but holding nothing.

    The LLM still knows when it answers an unconfirmed turn (so a withdrawal stops its
    generation and a tool call withdraws the speculation rather than run), but its output
    goes on to the TTS; `SpeculativeHold` after the TTS does the holding.
    """

    def _begin(self) -> list[GatedFrame]:
        self._state = SpeculationState.OPEN
        return []


class SpeculativeHold(FrameProcessor):
    """After the TTS: holds a speculative answer (text and audio) until its turn is over.

    `SpeculationTap`, in front of the LLM, tells it when each inference starts and whether
    it is speculative, which is what pipecat's gate needs to know.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._gate = SpeculationGate(name=f"{self}::gate")

    @property
    def holding(self) -> bool:
        return self._gate.is_speculating

    def inference_started(self, speculative: bool) -> None:
        self._gate.begin_speculation(speculative)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        for gated, gated_direction in self._gate.process(frame, direction):
            await self.push_frame(gated, gated_direction)


class SpeculationTap(FrameProcessor):
    """In front of the LLM: tells the hold about each inference as it starts."""

    def __init__(self, hold: SpeculativeHold, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._hold = hold

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame) and direction == FrameDirection.DOWNSTREAM:
            self._hold.inference_started(frame.speculation)
        await self.push_frame(frame, direction)
