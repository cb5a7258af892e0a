"""Loaded model engines, shared by every session of the process.

Models load once, in a worker thread, before the server accepts calls, and are warmed
so the first turn does not pay for lazy initialisation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from loguru import logger

from localagent.call.smart_turn import TurnStop, choose_turn_stop
from localagent.call.transcriber import Transcriber
from localagent.models.resolve import ResolvedModel, resolve_piper_voice, resolve_whisper_model
from localagent.settings import Settings

if TYPE_CHECKING:
    from piper import PiperVoice

__all__ = ["Engines", "load_engines", "load_vad_session"]


@dataclass
class Engines:
    # None where that service runs at a URL instead (--stt-url, --tts-url): not loaded.
    whisper: Transcriber | None  # the loaded faster-whisper model, decoded localagent's way
    whisper_model: ResolvedModel | None
    whisper_device: str
    whisper_compute_type: str
    piper: PiperVoice | None
    piper_voice: ResolvedModel | None
    piper_word_timing: bool  # the voice reports when each phoneme was spoken
    turn_stop: TurnStop
    vad: Any  # Silero's onnxruntime.InferenceSession, shared by every call
    load_seconds: dict[str, float] = field(default_factory=dict)
    stt_server: str | None = None  # "URL (model)" when STT runs at a URL
    tts_server: str | None = None

    def describe_stt(self) -> str:
        if self.whisper_model is None:
            return f"server {self.stt_server}"
        return (
            f"whisper {self.whisper_model.name} {self.whisper_device}/{self.whisper_compute_type}"
        )

    def describe_tts(self) -> str:
        if self.piper_voice is None:
            return f"Piper server {self.tts_server}"
        return f"Piper {self.piper_voice.name}"


def _whisper_device(requested: str) -> str:
    if requested != "auto":
        return requested
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def _compute_type(requested: str, device: str) -> str:
    if requested != "auto":
        return requested
    return "float16" if device == "cuda" else "int8"


def load_vad_session() -> Any:
    """Silero's ONNX session, shared by every call (see `localagent.memory.shared_onnx`)."""
    from importlib import resources

    from localagent.memory import shared_onnx

    return shared_onnx(str(resources.files("pipecat.audio.vad.data") / "silero_vad.onnx"))


def load_engines(settings: Settings) -> Engines:
    """Resolve, load and warm the STT and TTS models (blocking; run it in a thread); those
    served at a URL are left to their server."""
    local_stt, local_tts = settings.stt_url is None, settings.tts_url is None
    whisper_ref = (
        resolve_whisper_model(settings.whisper_model, settings.models_dir) if local_stt else None
    )
    voice_ref = (
        resolve_piper_voice(settings.piper_voice, settings.models_dir) if local_tts else None
    )

    timings: dict[str, float] = {"whisper": 0.0, "piper": 0.0}
    device = _whisper_device(settings.whisper_device) if local_stt else "server"
    compute_type = _compute_type(settings.whisper_compute_type, device) if local_stt else "-"
    whisper: Transcriber | None = None
    if whisper_ref is not None:
        from faster_whisper import WhisperModel

        t0 = time.perf_counter()
        whisper = Transcriber(
            WhisperModel(str(whisper_ref.path), device=device, compute_type=compute_type),
            beam_size=settings.whisper_beam_size,
            window_s=settings.whisper_window_s,
        )
        # A second of near-silence allocates the buffers: whisper hears nothing over the
        # short window, so it decodes it again over the full one and both are warm.
        noise = (np.random.default_rng(0).standard_normal(16000) * 1e-3).astype(np.float32)
        whisper.transcribe(noise, language="en")
        whisper.short_decodes = whisper.fallbacks = 0
        timings["whisper"] = time.perf_counter() - t0

    voice, word_timing = None, False
    if voice_ref is not None:
        from piper import PiperVoice

        t0 = time.perf_counter()
        voice = PiperVoice.load(str(voice_ref.path), include_alignments=True)
        warm = list(voice.synthesize("Hello.", include_alignments=True))
        word_timing = all(chunk.phoneme_alignments for chunk in warm)
        timings["piper"] = time.perf_counter() - t0
        if not word_timing:
            logger.warning(
                f"Piper {voice_ref.name} gives no phoneme timings (is the onnx package "
                "installed?): an interrupted answer is kept to the sentence, not to the word"
            )

    vad = load_vad_session()
    t0 = time.perf_counter()
    turn_stop = choose_turn_stop(settings)
    timings["turn"] = time.perf_counter() - t0
    logger.info(f"end of turn: {turn_stop.describe()}")

    if whisper_ref is not None and whisper is not None:
        logger.info(
            f"Whisper {whisper_ref.name} ({whisper_ref.source}, {device}/{compute_type}, "
            f"{whisper.window_s:g} s window) loaded in {timings['whisper']:.1f}s"
        )
    else:
        logger.info(f"STT at {settings.stt_url} ({settings.stt_model}): no whisper loaded")
    if voice_ref is not None:
        logger.info(
            f"Piper {voice_ref.name} ({voice_ref.source}) loaded in {timings['piper']:.1f}s"
        )
    else:
        logger.info(f"TTS at {settings.tts_url} (Piper HTTP): no voice loaded")
    return Engines(
        whisper=whisper,
        whisper_model=whisper_ref,
        whisper_device=device,
        whisper_compute_type=compute_type,
        piper=voice,
        piper_voice=voice_ref,
        piper_word_timing=word_timing,
        turn_stop=turn_stop,
        vad=vad,
        load_seconds=timings,
        stt_server=None if local_stt else f"{settings.stt_url} ({settings.stt_model})",
        tts_server=None if local_tts else f"{settings.tts_url} ({settings.piper_voice})",
    )
