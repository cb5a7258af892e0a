"""Whisper starts at the first 64 ms of silence, not at the VAD's stop.

pipecat's segmented STT transcribes an utterance once the VAD has heard `stop_secs` (0.2 s)
of silence, and whisper then takes 0.2-0.3 s on a 2-core machine: the transcript that the
end of turn and the LLM wait on came 0.4-0.5 s after the caller's last word. The VAD knows
much sooner that a silence has begun. So whisper starts on the utterance so far after
`EARLY_SILENCE_WINDOWS` quiet Silero windows; when the VAD then stops without having heard
voice again, that decode is the utterance's transcript (what came after it is silence, and
whisper pads every segment with silence anyway). If the caller goes on, the decode was
wasted CPU time: only one runs at a time, and the VAD's stop then decodes as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipecat.frames.frames import Frame, VADUserStoppedSpeakingFrame
from pipecat.services.stt_service import STTService

from localagent.call.services import SharedSileroVAD, SharedWhisperSTTService, create_stt
from localagent.settings import Settings

if TYPE_CHECKING:
    from localagent.call.engines import Engines

__all__ = ["EarlyWhisperSTTService", "create_early_stt"]


def create_early_stt(engines: Engines, settings: Settings, vad: SharedSileroVAD) -> STTService:
    """Whisper started by `vad`'s early silence, with `early_stt` and whisper in-process;
    else `create_stt`'s service."""
    if settings.early_stt and settings.stt_url is None:
        return EarlyWhisperSTTService(engines=engines, vad=vad)
    return create_stt(engines, settings)


@dataclass
class _Early:
    phase: int  # the VAD's silence it started in
    audio: bytes  # the utterance as buffered then
    decode: asyncio.Task[list[Frame] | Exception]


class EarlyWhisperSTTService(SharedWhisperSTTService):
    """The shared whisper, started by `vad`'s early silence (see the module)."""

    def __init__(self, *, engines: Engines, vad: SharedSileroVAD, **kwargs: Any) -> None:
        super().__init__(engines=engines, **kwargs)
        self._vad = vad
        self._early: _Early | None = None  # the decode of the silence going on
        self._taken: list[_Early] = []  # decodes the VAD's stop made the transcript
        self.early = {"used": 0, "wasted": 0}

    @property
    def decoding(self) -> bool:
        """An early decode is running."""
        return self._early is not None and not self._early.decode.done()

    def silence_began(self, phase: int) -> None:
        """The VAD's first quiet windows after speech (`SharedSileroVAD.on_early_silence`):
        decode the utterance so far."""
        if not self._user_speaking or not self._audio_buffer:
            return
        if self._early is not None:
            if not self._early.decode.done():
                return  # one at a time: this silence decodes at the VAD's stop
            self.early["wasted"] += 1  # the caller went on after the last one
        audio = bytes(self._audio_buffer)
        decode = self.create_task(self._decode(audio), f"{self}::early")
        self._early = _Early(phase, audio, decode)

    async def _decode(self, audio: bytes) -> list[Frame] | Exception:
        try:
            return [frame async for frame in super().run_stt(audio + self._trailing_silence())]
        except Exception as e:  # the utterance's failure, raised where its transcript is taken
            return e

    async def _handle_user_stopped_speaking(self, frame: VADUserStoppedSpeakingFrame) -> None:
        early, self._early = self._early, None
        if early is not None and early.phase == self._vad.silence_phase:
            # at most two kept: a stop whose segment was never decoded leaves one behind
            self._taken = [*self._taken[-1:], early]
        elif early is not None:
            self.early["wasted"] += 1
        await super()._handle_user_stopped_speaking(frame)

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        early = next((e for e in self._taken if audio.startswith(e.audio)), None)
        self._taken = [e for e in self._taken if e is not early]
        frames = await early.decode if early is not None else None
        if isinstance(frames, Exception):
            raise frames  # reported as whisper's failure, as at the VAD's stop
        if frames is None:  # none started for this utterance (or it was cancelled)
            async for frame in super().run_stt(audio):
                yield frame
            return
        self.early["used"] += 1
        for frame in frames:
            yield frame

    async def cleanup(self) -> None:
        for early in [self._early, *self._taken]:
            if early is not None and not early.decode.done():
                await self.cancel_task(early.decode)
        await super().cleanup()
