"""Per-session pipecat services built on the process-wide engines.

The subclasses only swap pipecat's load-per-instance for the shared, already warm model;
everything else (segmenting, metrics, resampling) is pipecat's own.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import aiohttp
import numpy as np
from loguru import logger
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState
from pipecat.frames.frames import EagerEndOfTurnCancelFrame, ErrorFrame, Frame, InterruptionFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.openai.stt import OpenAISTTService
from pipecat.services.piper.tts import PiperHttpTTSService, PiperTTSService
from pipecat.services.stt_service import STTService
from pipecat.services.tts_service import TTSService
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transcriptions.language import Language

from localagent.avatar.visemes import viseme_track
from localagent.call.lead_in import trim_lead_in
from localagent.call.speculation import SpeculativeHold
from localagent.call.spoken_words import SpokenWords, word_ends
from localagent.settings import Settings

if TYPE_CHECKING:
    from localagent.call.engines import Engines

__all__ = [
    "SharedPiperTTSService",
    "SharedWhisperSTTService",
    "SharedSileroVAD",
    "create_stt",
    "create_tts",
    "create_vad",
]


class SharedWhisperSTTService(WhisperSTTService):
    """WhisperSTTService over a model loaded once for the process.

    pipecat's no-speech filter is off (1.0): the `Transcriber` drops silence by whisper's
    own rule, and pipecat's 0.4 alone dropped short answers ("Two.") whole.
    """

    def __init__(self, *, engines: Engines, **kwargs: Any) -> None:
        assert engines.whisper is not None and engines.whisper_model is not None
        self._shared_model = engines.whisper
        super().__init__(
            device=engines.whisper_device,
            compute_type=engines.whisper_compute_type,
            settings=WhisperSTTService.Settings(
                model=str(engines.whisper_model.path), language=Language.EN, no_speech_prob=1.0
            ),
            # Segmented whisper finalizes every transcript, so end-of-turn never waits this
            # long; it only bounds the wait if a transcript goes missing.
            ttfs_p99_latency=1.0,
            **kwargs,
        )

    def _load(self) -> None:
        self._model = self._shared_model


class SharedPiperTTSService(PiperTTSService):
    """PiperTTSService over a voice loaded once for the process (no download path).

    Its `run_tts` is pipecat's, but asks Piper for phoneme timings too and tells
    `spoken_words` when each word of the sentence ends, for the avatar; and it cuts
    Piper's silence before each sentence, which the caller heard as latency.
    """

    def __init__(
        self,
        *,
        engines: Engines,
        spoken_words: SpokenWords | None = None,
        hold: SpeculativeHold | None = None,
        **kwargs: Any,
    ) -> None:
        assert engines.piper is not None and engines.piper_voice is not None
        self._spoken_words = spoken_words if engines.piper_word_timing else None
        self._hold = hold
        # PiperTTSService.__init__ would load (or download) the voice again; skip to its base.
        TTSService.__init__(
            self,
            push_start_frame=True,
            push_stop_frames=True,
            settings=PiperTTSService.Settings(
                model=None, voice=engines.piper_voice.name, language=None
            ),
            **kwargs,
        )
        self._voice = engines.piper

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, EagerEndOfTurnCancelFrame) and self._hold and self._hold.holding:
            # A speculative answer is withdrawn: stop speaking it, as an interruption would
            # (nothing of it was heard: the hold downstream has it all).
            await self._handle_interruption(InterruptionFrame(), direction)
        await super().process_frame(frame, direction)

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        if self._spoken_words is None:
            async for frame in super().run_tts(text, context_id):
                yield frame
            return
        voice, chunks = self._voice, []
        sentences = iter(voice.synthesize(text, include_alignments=True))

        def next_chunk() -> Any:
            chunk = next(sentences, None)
            if chunk is not None:
                chunk = trim_lead_in(chunk)
                chunks.append(chunk)
            return chunk

        async def audio() -> AsyncIterator[bytes]:
            while (chunk := await asyncio.to_thread(next_chunk)) is not None:
                yield chunk.audio_int16_bytes

        try:
            await self.start_tts_usage_metrics(text)
            async for frame in self._stream_audio_frames_from_iterator(
                audio(), in_sample_rate=voice.config.sample_rate, context_id=context_id
            ):
                await self.stop_ttfb_metrics()
                yield frame
            ends = await asyncio.to_thread(word_ends, voice, text, chunks)
            if ends:
                self._spoken_words.put(context_id, text, ends, viseme_track(chunks))
        except Exception as e:
            logger.error(f"{self} exception: {e}")
            yield ErrorFrame(error=f"Unknown error occurred: {e}")
        finally:
            await self.stop_ttfb_metrics()


# Voice before the VAD starts (three 32 ms Silero windows in a row). pipecat's default,
# 0.2 s, never started on a quick real "yes" (0.13 s above the VAD's confidence) or a
# clipped "No." in a noisy room, and they were never answered.
VAD_START_S = 0.1
# Voiced Silero windows (32 ms each at 16 kHz) in a row that count as early voice.
EARLY_VOICE_WINDOWS = 2
# Quiet windows after speech that count as a silence begun (the VAD stops at about six):
# two start whisper 32 ms sooner than three, on 4% more pauses between words (which cost a
# decode for nothing), and answer sooner on a slow CPU too (scripts/turns_replay.py).
EARLY_SILENCE_WINDOWS = 2
# A window this likely to be voice (below the VAD's 0.7) may be the caller going on: the
# end of turn waits a moment rather than answer over it.
FAINT_VOICE = 0.4


def window_volume(audio: bytes) -> float:
    """One window's level on pipecat's volume scale (-110 to -10 dB as 0 to 1), from its
    RMS: no loudness gating block, so it is there from the word's first window."""
    samples = np.frombuffer(audio, dtype=np.int16).astype(np.float32) / 32768
    rms = float(np.sqrt(np.mean(samples * samples))) if len(samples) else 0.0
    return min(1.0, max(0.0, (20 * math.log10(max(rms, 1e-6)) + 110) / 100))


class SharedSileroVAD(SileroVADAnalyzer):
    """Silero VAD over an ONNX session loaded once for the process.

    Each call keeps its own recurrent state (in `SileroOnnxModel`), but loading a model
    per call cost start-up time and left native memory behind (`scripts/soak.py`).

    Its loudness gate reacts to each window: pipecat's volume is the loudness of the last
    400 ms, smoothed, which rises too slowly for a word shorter than about 0.35 s, so a
    spoken "Two." or "Yes." would never start the VAD (`tests/test_vad.py`) and never be
    answered. The gate keeps pipecat's
    threshold (`min_volume`), on the louder of its volume and this window's level.
    """

    def __init__(
        self,
        *,
        engines: Engines,
        early_silence_windows: int = EARLY_SILENCE_WINDOWS,
        start_secs: float = VAD_START_S,
        **kwargs: Any,
    ) -> None:
        # SileroVADAnalyzer.__init__ would load a copy of the model
        VADAnalyzer.__init__(self, params=VADParams(start_secs=start_secs), **kwargs)
        self.early_silence_windows = early_silence_windows
        model = SileroOnnxModel.__new__(SileroOnnxModel)
        model.session = engines.vad
        model.sample_rates = [8000, 16000]
        model.reset_states()
        self._model = model
        self._windows_since_reset = 0
        self._low_confidence_windows = 0
        self._early_voice: list[Callable[[], None]] = []
        self._early_silence: list[Callable[[int], None]] = []
        self._faint_voice: list[Callable[[], None]] = []
        self._faint = False  # set in the analyzer's thread, told in the event loop
        self._told = False
        self._told_silence = False
        self._last_state = VADState.QUIET
        self.silence_phase = 0  # counts the silences after speech (voice, then quiet)

    def voice_confidence(self, buffer: bytes) -> float:
        confidence = super().voice_confidence(buffer)
        if confidence >= FAINT_VOICE:
            self._faint = True
        return confidence

    def _get_smoothed_volume(self, audio: bytes) -> float:
        return max(super()._get_smoothed_volume(audio), window_volume(audio))

    @property
    def quiet_windows(self) -> int:
        """Quiet windows in a row since the caller's voice, after `analyze_audio` (0 unless
        the VAD is stopping)."""
        return self._vad_stopping_count if self._last_state == VADState.STOPPING else 0

    def on_early_voice(self, listener: Callable[[], None]) -> None:
        self._early_voice.append(listener)

    def on_early_silence(self, listener: Callable[[int], None]) -> None:
        """`listener(silence_phase)` at the first quiet windows after speech."""
        self._early_silence.append(listener)

    def on_faint_voice(self, listener: Callable[[], None]) -> None:
        """`listener()` after each buffer with a window at least `FAINT_VOICE` likely voice."""
        self._faint_voice.append(listener)

    async def analyze_audio(self, buffer: bytes) -> VADState:
        """pipecat's analysis, and the early listeners told of the first voiced windows
        (the VAD starts only after `start_secs`, 0.1 s, of them: barge-in and the end of
        turn act on them sooner) and of the first quiet ones after speech (it stops only
        after `stop_secs`: whisper starts on them)."""
        state = await super().analyze_audio(buffer)
        if self._faint:
            self._faint = False
            for faint_listener in self._faint_voice:
                faint_listener()
        if state == VADState.STARTING and self._vad_starting_count >= EARLY_VOICE_WINDOWS:
            if not self._told:
                for listener in self._early_voice:
                    listener()
            self._told = True
        elif state == VADState.QUIET:
            self._told = False
        if state == VADState.STOPPING:
            if self._last_state == VADState.SPEAKING:
                self.silence_phase += 1
                self._told_silence = False
            quiet = self._vad_stopping_count
            if not self._told_silence and quiet >= self.early_silence_windows:
                self._told_silence = True
                for silence_listener in self._early_silence:
                    silence_listener(self.silence_phase)
        self._last_state = state
        return state


def create_vad(engines: Engines) -> SharedSileroVAD:
    return SharedSileroVAD(engines=engines)


def create_stt(engines: Engines, settings: Settings | None = None) -> STTService:
    """Whisper in-process, or the OpenAI-compatible server at `stt_url`."""
    if settings is not None and settings.stt_url is not None:
        return OpenAISTTService(
            api_key="localagent",
            base_url=settings.stt_url,
            settings=OpenAISTTService.Settings(model=settings.stt_model, language=Language.EN),
            ttfs_p99_latency=1.0,
        )
    return SharedWhisperSTTService(engines=engines)


def create_tts(
    engines: Engines,
    spoken_words: SpokenWords | None = None,
    hold: SpeculativeHold | None = None,
    *,
    settings: Settings | None = None,
    http: aiohttp.ClientSession | None = None,
) -> TTSService:
    """Piper in-process, or Piper's HTTP server at `tts_url` (no word timings from it: an
    interrupted answer is kept to the sentence)."""
    if settings is not None and settings.tts_url is not None:
        assert http is not None
        return PiperHttpTTSService(
            base_url=settings.tts_url,
            aiohttp_session=http,
            settings=PiperHttpTTSService.Settings(
                model=None, voice=settings.piper_voice, language=None
            ),
        )
    return SharedPiperTTSService(engines=engines, spoken_words=spoken_words, hold=hold)
