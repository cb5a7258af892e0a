"""The short-window transcriber, with the real tiny.en model, Piper-spoken sentences and
short answers in an espeak voice."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soxr
from faster_whisper import WhisperModel

from localagent.call.transcriber import Transcriber, is_silence, trim_lead_in
from localagent.models.resolve import resolve_whisper_model
from localagent.settings import Settings
from localagent.testing.speech import synthesize
from localagent.testing.turn_corpus import FAMILIES, piece

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


ESPEAK = bool(shutil.which("espeak-ng"))
needs_espeak = pytest.mark.skipif(
    not ESPEAK and not os.environ.get("LOCALAGENT_REQUIRE_ESPEAK"),
    reason="espeak-ng is not installed",
)


def spoken(family_index: int, text: str) -> np.ndarray:
    """A piece of the turn corpus, padded as pipecat pads a VAD segment."""
    pcm = piece(FAMILIES[family_index], text).astype(np.float32) / 32768
    audio = soxr.resample(pcm, 48000, RATE).astype(np.float32)
    return np.concatenate([np.zeros(RATE // 5, np.float32), audio, np.zeros(RATE, np.float32)])


@needs_espeak
@pytest.mark.parametrize("said", ["Three.", "Two.", "zero."])
def test_a_one_word_answer_is_heard_once_not_repeated_or_dropped(
    whisper: WhisperModel, encoded: list[int], said: str
) -> None:
    """espeak's "Three." made faster-whisper's defaults loop: "3. 3. 3. ..." at every
    temperature (six decodes, 10 s), then pipecat dropped it (no-speech 0.6)."""
    transcriber = Transcriber(whisper, beam_size=1, window_s=10)
    segments, _ = transcriber.transcribe(spoken(0, said), language="en")
    heard = words(segments)
    assert heard in {said.lower().rstrip("."), {"Three.": "3", "Two.": "2", "zero.": "0"}[said]}
    assert len(encoded) <= 2  # the short window, then at most the full one; no ladder


def test_a_decode_is_bounded_by_the_length_of_the_audio(whisper: WhisperModel) -> None:
    transcriber = Transcriber(whisper, beam_size=1, window_s=10)
    calls: list[dict[str, Any]] = []
    short = transcriber._short
    assert short is not None
    transcribe = short.transcribe

    def spy(audio: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return transcribe(audio, **kwargs)

    short.transcribe = spy
    transcriber.transcribe(speech("Yes please."), language="en")
    assert calls[0]["temperature"] == 0.0
    assert 16 < calls[0]["max_new_tokens"] < 16 + 10 * 3


@pytest.mark.parametrize(
    ("no_speech", "logprob", "dropped"),
    [(0.65, -0.3, False), (0.45, -1.2, False), (0.7, -1.2, True)],
)
def test_silence_is_whispers_own_rule_not_the_no_speech_probability_alone(
    no_speech: float, logprob: float, dropped: bool
) -> None:
    segment = SimpleNamespace(no_speech_prob=no_speech, avg_logprob=logprob)
    assert is_silence(segment) is dropped


def test_a_long_silence_before_the_first_word_is_cut_to_the_lead_in_kept() -> None:
    rate = 16000
    t = np.arange(int(0.3 * rate)) / rate
    word = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    onset = (0.02 * np.sin(2 * np.pi * 3000 * t[: int(0.05 * rate)])).astype(np.float32)
    audio = np.concatenate([np.zeros(int(0.9 * rate), np.float32), onset, word])
    trimmed = trim_lead_in(audio)
    # 0.4 s kept before the first sound over a tenth of the loudest (the word, not its
    # soft onset, which the kept lead-in holds)
    assert len(audio) - len(trimmed) == pytest.approx((0.9 + 0.05 - 0.4) * rate, abs=160)
    assert np.array_equal(trimmed[-len(word) :], word)
    short = np.concatenate([np.zeros(int(0.2 * rate), np.float32), word])
    assert len(trim_lead_in(short)) == len(short)  # less than the lead-in: nothing cut
    assert len(trim_lead_in(np.zeros(100, np.float32))) == 100
