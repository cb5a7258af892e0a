"""How localagent runs faster-whisper: greedy, over a window cut to the utterance.

faster-whisper pads every utterance to whisper's 30 s window, and on a CPU the encoder's
pass over that window is most of STT (0.43 s of the 0.6 s a 2 s sentence takes on a 2-core
machine). Encoding a 10 s window is about three times faster at the same word error rate
(`scripts/whisper_window.py`), but it takes whisper outside what it was trained on, and now
and then it judges speech to be silence, which pipecat's no-speech filter would drop
whole. So each utterance is decoded over the short window first and again over the full
window when that result looks unsure: nothing heard, a segment pipecat would drop, or
faster-whisper's own signs of a failed decode. An utterance too long for the short window
goes straight to the full one.
"""

from __future__ import annotations

import copy
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from faster_whisper import WhisperModel
    from faster_whisper.transcribe import Segment

__all__ = ["FULL_WINDOW_S", "Transcriber"]

FULL_WINDOW_S = 30.0
RATE = 16000
# pipecat's WhisperSTTService drops a segment whose no-speech probability reaches this.
NO_SPEECH_DROP = 0.4
# faster-whisper's defaults for a decode it retries at a higher temperature.
COMPRESSION_RATIO_MAX = 2.4
AVG_LOGPROB_MIN = -1.0
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
        kwargs.setdefault("beam_size", self._beam_size)
        if self._short is not None and len(audio) / RATE <= self.window_s - EDGE_S:
            segments, info = self._short.transcribe(audio, **kwargs)
            heard = list(segments)
            unsure = not "".join(s.text for s in heard).strip() or any(map(_unsure, heard))
            with self._lock:
                self.short_decodes += 1
                self.fallbacks += unsure
            if not unsure:
                return heard, info
        segments, info = self._model.transcribe(audio, **kwargs)
        return list(segments), info

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def _unsure(segment: Segment) -> bool:
    return (
        segment.no_speech_prob >= NO_SPEECH_DROP
        or segment.compression_ratio > COMPRESSION_RATIO_MAX
        or segment.avg_logprob < AVG_LOGPROB_MIN
    )


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
