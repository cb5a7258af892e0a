"""Piper's phoneme alignments, placed in the audio it returned.

Each alignment counts the model's samples; the audio may be a few samples longer or
shorter, and a sentence comes as several chunks. Both word timings and mouth shapes need
the same thing: each phoneme with the sample of the sentence's audio it starts at.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["TimedPhoneme", "timed_phonemes"]


class TimedPhoneme(NamedTuple):
    phoneme: str
    start: float  # sample of the sentence's audio (all chunks) where it starts
    chunk_end: int | None  # set on a chunk's last phoneme: the sample that chunk ends at


def timed_phonemes(chunks: list[Any]) -> list[TimedPhoneme] | None:
    """Every phoneme of Piper AudioChunks, in order; None when any chunk has no alignments."""
    timed: list[TimedPhoneme] = []
    offset = 0
    for chunk in chunks:
        alignments = chunk.phoneme_alignments
        samples = len(chunk.audio_int16_bytes) // 2
        total = sum(int(a.num_samples) for a in alignments or [])
        if not alignments or total <= 0:
            return None
        scale = samples / total  # alignments count model samples; the audio is the truth
        at = float(offset)
        for i, a in enumerate(alignments):
            last = i == len(alignments) - 1
            timed.append(TimedPhoneme(a.phoneme, at, offset + samples if last else None))
            at += int(a.num_samples) * scale
        offset += samples
    return timed
