"""How localagent runs faster-whisper: greedy, once, over a window cut to the utterance.

Each utterance is decoded at temperature 0 with a token budget for its length, over a
short window first (an utterance too long for it goes to whisper's full 30 s one), and
again over the full window when the result looks unsure: nothing heard, a segment pipecat
would drop, a decode that ran into its budget, or faster-whisper's own signs of a failed
decode. A segment is silence by whisper's own rule (no-speech probability over 0.6 *and*
an average log probability under -1), not by the probability alone. At most
`LEAD_IN_KEEP_S` of silence is kept before the first voiced frame.

Why: on a CPU the encoder's pass over the 30 s window is most of STT, and a shorter window
is several times faster at about the same accuracy, but outside what whisper was trained
on it now and then hears speech as silence. And faster-whisper's defaults fail the short
answers people give alone ("Two.", "M."): its temperature ladder decodes one word many
times, a decode can repeat itself up to whisper's token limit, and pipecat's no-speech
filter drops such pieces whole. The figures are `scripts/whisper_window.py`'s and
`scripts/stt_pieces.py`'s (docs/benchmarks.md).
"""

from __future__ import annotations

import copy
import re
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from faster_whisper import WhisperModel
    from faster_whisper.transcribe import Segment

__all__ = ["FULL_WINDOW_S", "Transcriber", "is_silence", "trim_lead_in"]

FULL_WINDOW_S = 30.0
RATE = 16000
# whisper's own rule for a segment that is silence: both at once (its no_speech_threshold
# and logprob_threshold defaults). A short word alone often has a no-speech probability of
# 0.4-0.6 and is still the word.
NO_SPEECH_MIN = 0.6
AVG_LOGPROB_MIN = -1.0
# faster-whisper's default for a decode that repeats itself.
COMPRESSION_RATIO_MAX = 2.4
# A word said this many times in a row is whisper repeating itself ("3. 3. 3. 3."), which
# its compression-ratio check misses on a short transcript.
REPEATS_MAX = 4
# Tokens a decode may make: speech is 3-5 tokens a second, so this is room for fast speech
# and timestamps, and a decode that uses it all is repeating itself.
TOKENS_BASE = 16
TOKENS_PER_S = 10.0
# Silence kept before an utterance's first voiced sound: room for a soft onset ("f", "h",
# "s") quieter than LEAD_IN_VOICED of its loudest sound.
LEAD_IN_KEEP_S = 0.4
LEAD_IN_VOICED = 0.1
# Room the short window keeps after the audio (pipecat pads each segment with 0.5 s of
# silence), so speech never runs into the window's edge; a margin, not a tuned value.
EDGE_S = 1.0


class Transcriber:
    """A drop-in for `WhisperModel.transcribe` as pipecat's WhisperSTTService calls it.

    Shares the loaded model (the short window is a shallow copy whose encoder reads the
    first `window_s` of the features), so every call of the process can use one. Decodes
    with `beam_size`, which pipecat's service does not pass: greedy decoding (1) transcribed
    the bench sentences 15% faster than faster-whisper's default beam of 5, with the same
    word error rate (tiny.en, CPU).
    """

    def __init__(self, model: WhisperModel, *, beam_size: int, window_s: float) -> None:
        self._model = model
        self._beam_size = beam_size
        self.window_s = min(window_s, FULL_WINDOW_S)
        self._short = _short_window(model, self.window_s) if window_s < FULL_WINDOW_S else None
        self._lock = threading.Lock()
        self.short_decodes = 0  # utterances decoded over the short window
        self.fallbacks = 0  # of those, decoded again over the full window

    def transcribe(self, audio: np.ndarray, **kwargs: Any) -> tuple[list[Segment], Any]:
        """The utterance's segments, without those whisper judges silence."""
        audio = trim_lead_in(audio)
        budget = int(TOKENS_BASE + TOKENS_PER_S * len(audio) / RATE)
        kwargs.setdefault("beam_size", self._beam_size)
        kwargs.setdefault("temperature", 0.0)
        kwargs.setdefault("max_new_tokens", budget)
        if self._short is not None and len(audio) / RATE <= self.window_s - EDGE_S:
            segments, info = self._short.transcribe(audio, **kwargs)
            heard = list(segments)
            unsure = _unsure(heard, budget)
            with self._lock:
                self.short_decodes += 1
                self.fallbacks += unsure
            if not unsure:
                return _speech(heard), info
        segments, info = self._model.transcribe(audio, **kwargs)
        return _speech(list(segments)), info

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def trim_lead_in(audio: np.ndarray) -> np.ndarray:
    """`audio` from `LEAD_IN_KEEP_S` before its first voiced 10 ms (a tenth of its loudest).

    pipecat's segmented STT keeps up to a second of audio from before the VAD's start, so
    that a word's onset is not cut; but tiny.en, given a short word after most of a second
    of silence, often hears nothing at all, and the word goes unanswered."""
    frame = RATE // 100
    n = len(audio) // frame
    if n == 0:
        return audio
    rms = np.sqrt(np.mean(np.square(audio[: n * frame].reshape(n, frame)), axis=1))
    voiced = np.flatnonzero(rms >= LEAD_IN_VOICED * float(rms.max()))
    first = int(voiced[0]) * frame if len(voiced) else 0
    return audio[max(0, first - int(LEAD_IN_KEEP_S * RATE)) :]


def is_silence(segment: Segment) -> bool:
    return segment.no_speech_prob > NO_SPEECH_MIN and segment.avg_logprob < AVG_LOGPROB_MIN


def _text(segments: list[Segment]) -> str:
    return "".join(s.text for s in segments).strip()


def _speech(segments: list[Segment]) -> list[Segment]:
    return [s for s in segments if not is_silence(s)]


def _unsure(segments: list[Segment], budget: int) -> bool:
    """Signs of a failed decode: nothing, silence, repetition, or the token budget used up."""
    return (
        not _text(segments)
        or any(is_silence(s) or s.compression_ratio > COMPRESSION_RATIO_MAX for s in segments)
        or _repeats(_text(segments))
        or sum(len(s.tokens) for s in segments) >= budget - 2
    )


def _repeats(text: str) -> bool:
    words = re.findall(r"[a-z0-9']+", text.lower())
    run = 1
    for before, word in zip(words, words[1:], strict=False):
        run = run + 1 if word == before else 1
        if run >= REPEATS_MAX:
            return True
    return False


def _short_window(model: WhisperModel, window_s: float) -> WhisperModel:
    """The model with an encoder that sees only the first `window_s` of its 30 s input.

    faster-whisper zero-pads each segment's features to 30 s before encoding; CTranslate2
    encodes fewer frames as readily, in proportionally less time.
    """
    frames = int(window_s * RATE / model.feature_extractor.hop_length)
    frames += frames % 2  # whisper's first convolution has stride 2
    full_encode = model.encode
    short = copy.copy(model)

    def encode(features: np.ndarray) -> Any:
        return full_encode(np.ascontiguousarray(features[..., :frames]))

    short.encode = encode
    return short
