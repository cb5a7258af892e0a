"""Piper's silence before each sentence, cut to a few milliseconds.

Piper starts every sentence with its start-of-sentence symbol ("^"), which it voices as
0-80 ms of silence (40 ms at the median on en_US-joe-medium). Before the first sentence of
an answer the caller hears that silence as latency: the bot's voice starts that much later.
The cut stays inside the "^" alignment, and that alignment shrinks by as many samples, so
word timings and mouth shapes still fall on the audio they describe.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["KEEP_S", "trim_lead_in"]

# Silence kept before the first voiced sample: a hard onset would click.
KEEP_S = 0.01
# Quieter than this (of full scale, per 5 ms) is silence: Piper's lead-in is below 0.001,
# the softest onsets ("h", "f") rise past 0.003 within their first 10 ms.
SILENT_RMS = 0.003
_STEP_S = 0.005


def _lead_in_samples(audio: np.ndarray, rate: int) -> int:
    """Samples of silence before the first voiced 5 ms of `audio` (float, -1..1)."""
    step = max(1, int(rate * _STEP_S))
    usable = len(audio) // step * step
    if not usable:
        return 0
    rms = np.sqrt(np.mean(audio[:usable].reshape(-1, step) ** 2, axis=1))
    voiced = np.flatnonzero(rms > SILENT_RMS)
    return int(voiced[0]) * step if len(voiced) else 0


def trim_lead_in(chunk: Any) -> Any:
    """A Piper AudioChunk without its leading silence (less `KEEP_S`), or `chunk` itself
    when it has none to cut or no "^" alignment to cut it from."""
    alignments = chunk.phoneme_alignments
    if not alignments or alignments[0].phoneme != "^":
        return chunk
    audio = np.asarray(chunk.audio_float_array)
    cut = _lead_in_samples(audio, chunk.sample_rate) - int(chunk.sample_rate * KEEP_S)
    cut = min(cut, int(alignments[0].num_samples))
    if cut <= 0:
        return chunk
    first = dataclasses.replace(alignments[0], num_samples=int(alignments[0].num_samples) - cut)
    id_samples = chunk.phoneme_id_samples
    if id_samples is not None:  # the "^" alignment's ids come first: take the cut from them
        id_samples = id_samples.copy()
        left = cut
        for i in range(len(id_samples)):
            taken = min(left, int(id_samples[i]))
            id_samples[i] -= taken
            left -= taken
            if not left:
                break
    return dataclasses.replace(
        chunk,
        audio_float_array=audio[cut:],
        phoneme_alignments=[first, *alignments[1:]],
        phoneme_id_samples=id_samples,
        _audio_int16_array=None,
        _audio_int16_bytes=None,
        _phoneme_alignments=None,
    )
