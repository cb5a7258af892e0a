"""Whisper starts at the first quiet windows after speech, and its decode is the transcript
when the VAD then stops; a pause the caller goes on after wastes it. Real Silero, real
tiny.en, the turn corpus's slow Piper voice, through pipecat's own user aggregator (which
runs the VAD and sends its frames back up to the STT, as in a call)."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soxr
from pipecat.audio.vad.vad_analyzer import VADState
from pipecat.frames.frames import Frame, InputAudioRawFrame, TranscriptionFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import SleepFrame, run_test

from localagent.call.early_stt import EarlyWhisperSTTService
from localagent.call.engines import load_vad_session
from localagent.call.services import EARLY_SILENCE_WINDOWS, SharedSileroVAD
from localagent.call.transcriber import Transcriber
from localagent.models.resolve import resolve_whisper_model
from localagent.settings import Settings
from localagent.testing.frames import FrameLog
from localagent.testing.turn_corpus import FAMILIES, speak
from localagent.testing.turn_corpus import RATE as CORPUS_RATE

RATE = 16000
FRAME = 320  # 20 ms, as WebRTC delivers it
PIPER = next(f for f in FAMILIES if f.name == "piper slow, lower")  # needs no espeak-ng


@pytest.fixture(scope="module")
def engines() -> Any:
    from faster_whisper import WhisperModel

    ref = resolve_whisper_model("tiny.en", Settings().models_dir)
    model = WhisperModel(str(ref.path), device="cpu", compute_type="int8")
    return SimpleNamespace(
        whisper=Transcriber(model, beam_size=1, window_s=10.0),
        whisper_model=ref,
        whisper_device="cpu",
        whisper_compute_type="int8",
        vad=load_vad_session(),
    )


def _vad(engines: Any) -> SharedSileroVAD:
    vad = SharedSileroVAD(engines=engines, sample_rate=RATE)
    vad.set_sample_rate(RATE)
    return vad


def _speech(*parts: str | float) -> np.ndarray:
    """16 kHz int16 of the turn corpus's Piper voice: each str said, each float a pause."""
    pcm = speak(PIPER, "test", list(parts)).pcm.astype(np.float32)
    return soxr.resample(pcm, CORPUS_RATE, RATE).astype(np.int16)


def test_the_vad_tells_of_a_silence_before_it_stops(engines: Any) -> None:
    vad = _vad(engines)
    told: list[tuple[int, float]] = []  # (silence phase, seconds of audio analysed)
    analysed = 0.0
    vad.on_early_silence(lambda phase: told.append((phase, analysed)))
    audio = _speech(0.3, "My printer will not print.", 0.12, "At all.", 0.8)

    async def run() -> list[tuple[float, VADState]]:
        nonlocal analysed
        states = []
        for i in range(0, len(audio) - FRAME, FRAME):
            analysed = (i + FRAME) / RATE
            states.append((analysed, await vad.analyze_audio(audio[i : i + FRAME].tobytes())))
        return states

    states = asyncio.run(run())
    pairs = zip(states[1:], states[:-1], strict=True)
    quiet_at = [t for (t, s), (_, before) in pairs if s == VADState.QUIET != before]
    # A pause inside a sentence may tell of a silence too; the last one told comes at least
    # EARLY_SILENCE_WINDOWS windows into the final silence, and before the VAD stops.
    assert told and quiet_at
    phase, at = told[-1]
    assert phase == vad.silence_phase and len({p for p, _ in told}) == len(told)
    window = 512 / RATE
    assert at >= quiet_at[-1] - vad.params.stop_secs + (EARLY_SILENCE_WINDOWS - 1) * window
    assert at < quiet_at[-1], (told, quiet_at)


class Pacer(FrameProcessor):
    """Lets each audio frame on only once the user aggregator has taken the ones before it
    and no early decode is running: whisper keeps up with the caller however fast this
    CPU is, so what is decoded when is the same on every machine."""

    def __init__(self, stt: EarlyWhisperSTTService, after: FrameLog) -> None:
        super().__init__()
        self._stt, self._after, self._sent = stt, after, 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            deadline = time.monotonic() + 60
            while len(self._after.of(InputAudioRawFrame)) < self._sent or self._stt.decoding:
                assert time.monotonic() < deadline, "whisper took over a minute"
                await asyncio.sleep(0.005)
            self._sent += 1
        await self.push_frame(frame, direction)


async def _transcribe(engines: Any, audio: np.ndarray) -> tuple[list[str], dict[str, int]]:
    vad = _vad(engines)
    stt = EarlyWhisperSTTService(engines=engines, vad=vad)
    vad.on_early_silence(stt.silence_began)  # as the call's pipeline wires it
    user = LLMContextAggregatorPair(
        LLMContext(), user_params=LLMUserAggregatorParams(vad_analyzer=vad)
    ).user()
    frames: list[Frame] = []
    for i in range(0, len(audio) - FRAME, FRAME):
        frames.append(InputAudioRawFrame(audio[i : i + FRAME].tobytes(), RATE, 1))
    frames.append(SleepFrame(sleep=0.5))
    log, after = FrameLog(), FrameLog()  # the user aggregator takes the transcripts in
    pipeline = Pipeline([Pacer(stt, after), stt, log, user, after])
    await run_test(pipeline, frames_to_send=frames, expected_down_frames=None)
    texts = [f.text for _, f in log.of(TranscriptionFrame) if isinstance(f, TranscriptionFrame)]
    return texts, dict(stt.early)


async def test_the_early_decode_is_the_transcript(engines: Any) -> None:
    texts, early = await _transcribe(engines, _speech(0.3, "My printer will not print.", 1.0))
    assert any("printer" in t.lower() for t in texts), texts
    assert early["used"] == 1, early


async def test_a_pause_the_caller_goes_on_after_is_not_the_transcript(engines: Any) -> None:
    # 0.15 s: long enough to start a decode, too short for the VAD to stop.
    audio = _speech(0.3, "My printer", 0.15, "will not print anything.", 1.0)
    texts, early = await _transcribe(engines, audio)
    assert len(texts) == 1 and "anything" in texts[0].lower(), texts
    assert early["used"] == 1 and early["wasted"] >= 1, early
