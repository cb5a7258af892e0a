"""Mute the bot's voice without stopping the call (the cockpit's `m`).

Sits right after the TTS: while muted, the synthesized audio goes on as silence of the
same length, so turn-taking, captions, the transcript and the record stay as they were,
and the avatar's mouth (driven by that audio) stays closed.
"""

from __future__ import annotations

from pipecat.frames.frames import Frame, TTSAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

__all__ = ["BotMute"]


class BotMute(FrameProcessor):
    def __init__(self) -> None:
        super().__init__(name="BotMute")
        self.muted = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if self.muted and isinstance(frame, TTSAudioRawFrame):
            frame.audio = bytes(len(frame.audio))
        await self.push_frame(frame, direction)
