"""Test utterances spoken by the offline Piper voice, as 48 kHz PCM for a WebRTC caller."""

from __future__ import annotations

import functools
import wave
from pathlib import Path

import numpy as np
import soxr
from piper import PiperVoice

from localagent.models.resolve import resolve_piper_voice
from localagent.settings import Settings

__all__ = ["aligned_voice", "synthesize", "voice", "write_wav"]


@functools.cache
def voice() -> PiperVoice:
    """The test voice, loaded once."""
    ref = resolve_piper_voice("en_US-joe-medium", Settings().models_dir)
    return PiperVoice.load(str(ref.path))


@functools.cache
def aligned_voice() -> PiperVoice:
    """The test voice, patched to say when it speaks each phoneme (as the app loads it)."""
    ref = resolve_piper_voice("en_US-joe-medium", Settings().models_dir)
    return PiperVoice.load(str(ref.path), include_alignments=True)


def synthesize(text: str, rate: int = 48000) -> np.ndarray:
    """Mono int16 PCM of `text` at `rate`."""
    piper = voice()
    pcm = b"".join(chunk.audio_int16_bytes for chunk in piper.synthesize(text))
    samples = np.frombuffer(pcm, dtype=np.int16)
    src_rate = piper.config.sample_rate
    if src_rate == rate:
        return samples.copy()
    resampled = soxr.resample(samples.astype(np.float32), src_rate, rate)
    return np.clip(resampled, -32768, 32767).astype(np.int16)


def write_wav(path: Path, samples: np.ndarray, rate: int = 48000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype(np.int16).tobytes())
    return path
