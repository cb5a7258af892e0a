"""Who is talking and how loud, a few times a second, for the cockpit's meters.

An observer, so no stage of the call changes: the caller's level is read off the audio
the input transport pushes, the bot's off the audio that reaches the output transport,
and the state from the VAD, the turn and the bot's speech. The events carry no session
id of their own (the call is named in `call`), so the session record does not keep them.
"""

from __future__ import annotations

import time

import numpy as np
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport

from localagent.events import CallActivity, EventBus

__all__ = ["ActivityObserver", "level_of"]

EVERY_S = 0.2


def level_of(pcm: bytes) -> float:
    """Loudness of 16-bit PCM, 0 (-60 dBFS or less) .. 1 (full scale)."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], np.int16).astype(np.float32)
    if not len(samples):
        return 0.0
    rms = float(np.sqrt(np.mean(samples * samples))) / 32768.0
    return max(0.0, min(1.0, 1.0 + 20.0 * np.log10(max(rms, 1e-6)) / 60.0))


class ActivityObserver(BaseObserver):
    def __init__(self, bus: EventBus, call_id: str, every_s: float = EVERY_S) -> None:
        super().__init__()
        self._bus, self._call, self._every = bus, call_id, every_s
        self._caller = self._bot = 0.0  # loudest since the last event
        self._user_speaking = False
        self.state = "idle"  # "listening" | "thinking" | "speaking" | "idle"
        self._next = 0.0

    async def on_push_frame(self, data: FramePushed) -> None:
        frame = data.frame
        if data.direction != FrameDirection.DOWNSTREAM:
            return
        if isinstance(frame, InputAudioRawFrame) and isinstance(data.source, BaseInputTransport):
            self._caller = max(self._caller, level_of(frame.audio))
        elif isinstance(frame, OutputAudioRawFrame) and isinstance(
            data.destination, BaseOutputTransport
        ):
            self._bot = max(self._bot, level_of(frame.audio))
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self._user_speaking, self.state = True, "listening"
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._user_speaking = False
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self.state = "thinking"  # the turn is over: the answer is being made
        elif isinstance(frame, BotStartedSpeakingFrame):
            self.state = "speaking"
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self.state = "listening" if self._user_speaking else "idle"
        else:
            return
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self._every
            self._bus.publish(
                CallActivity(
                    "", call=self._call, caller=self._caller, bot=self._bot, state=self.state
                )
            )
            self._caller = self._bot = 0.0
