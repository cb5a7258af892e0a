"""The short-window transcriber, with the real tiny.en model and Piper-spoken sentences."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from faster_whisper import WhisperModel

from localagent.call.transcriber import Transcriber
from localagent.models.resolve import resolve_whisper_model
from localagent.settings import Settings
from localagent.testing.speech import synthesize

RATE = 16000


@pytest.fixture(scope="module")
def whisper() -> WhisperModel:
    ref = resolve_whisper_model("tiny.en", Settings().models_dir)
    return WhisperModel(str(ref.path), device="cpu", compute_type="int8")


@pytest.fixture
def encoded(whisper: WhisperModel, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The number of feature frames each encoder pass read, in order."""
    frames: list[int] = []
    encode = whisper.encode

    def spy(features: Any) -> Any:
        frames.append(features.shape[-1])
        return encode(features)

    monkeypatch.setattr(whisper, "encode", spy, raising=False)
    yield frames


def speech(text: str, silence_s: float = 0.5) -> np.ndarray:
    pcm = synthesize(text, rate=RATE).astype(np.float32) / 32768
    pad = np.zeros(int(RATE * silence_s), dtype=np.float32)
    return np.concatenate([pad, pcm, pad])


def words(segments: list[Any]) -> str:
    return " ".join("".join(s.text for s in segments).lower().replace(".", "").split())


def test_a_short_sentence_is_decoded_over_the_short_window_only(
    whisper: WhisperModel, encoded: list[int]
) -> None:
    transcriber = Transcriber(whisper, beam_size=1, window_s=10)
    segments, _ = transcriber.transcribe(speech("My printer will not print anything."))
    assert words(segments) == "my printer will not print anything"
    assert encoded == [1000]  # 10 s of 10 ms frames, not faster-whisper's 3000
    assert (transcriber.short_decodes, transcriber.fallbacks) == (1, 0)


def test_nothing_heard_over_the_short_window_is_decoded_again_over_30_s(
    whisper: WhisperModel, encoded: list[int]
) -> None:
    transcriber = Transcriber(whisper, beam_size=1, window_s=10)
    hiss = (np.random.default_rng(1).standard_normal(RATE * 2) * 1e-3).astype(np.float32)
    transcriber.transcribe(hiss, language="en")
    assert encoded[0] == 1000
    assert encoded[-1] == 3000
    assert (transcriber.short_decodes, transcriber.fallbacks) == (1, 1)


def test_speech_too_long_for_the_short_window_goes_to_the_full_window(
    whisper: WhisperModel, encoded: list[int]
) -> None:
    transcriber = Transcriber(whisper, beam_size=1, window_s=5)
    audio = speech("Could you book a table for four people at seven thirty tomorrow evening?")
    assert len(audio) / RATE > 4.0  # longer than the window less its 1 s edge
    segments, _ = transcriber.transcribe(audio)
    assert "table for four people" in words(segments)
    assert encoded == [3000]
    assert transcriber.short_decodes == 0


def test_a_30_s_window_is_faster_whispers_own_decoding(
    whisper: WhisperModel, encoded: list[int]
) -> None:
    transcriber = Transcriber(whisper, beam_size=1, window_s=30)
    transcriber.transcribe(speech("Yes please."))
    assert encoded == [3000]
    assert transcriber.short_decodes == 0
