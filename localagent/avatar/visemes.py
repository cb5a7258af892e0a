"""Mouth shapes from the phonemes Piper spoke, timed by its own alignments.

Loudness says how far the jaw opens, but not the shape of the lips: "m", "b" and "p" shut
them, "oo" rounds them, "ee" spreads them, "f" and "v" bring the lower lip to the teeth.
Piper says which phoneme it spoke for how many samples, so each sentence gets a track of
shapes in step with its audio. The local avatar plays that track with the audio it belongs
to; audio without one (another TTS, Tavus's path) keeps the spectrum-based shapes.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from localagent.call.phonemes import timed_phonemes

__all__ = ["Viseme", "VisemeTrack", "viseme_of", "viseme_track"]


@dataclass(frozen=True, slots=True)
class Viseme:
    open: float  # how much of the loudness-given jaw opening this sound allows
    spread: float  # -1 rounded .. 1 spread
    shut: float = 0.0  # lips pressed together


_REST = Viseme(1.0, 0.0)
_SHAPES: dict[str, Viseme] = {}
for chars, shape in (
    ("pbm", Viseme(0.0, -0.1, 1.0)),  # bilabials: the lips meet
    ("fv", Viseme(0.15, 0.1, 0.5)),  # lower lip to the upper teeth
    ("uʊwoɔɒ", Viseme(0.6, -1.0)),  # rounded
    ("ʃʒ", Viseme(0.35, -0.5)),  # a little rounded, teeth close
    ("ɹɚɝ", Viseme(0.5, -0.4)),
    ("iɪj", Viseme(0.45, 0.9)),  # spread, fairly closed
    ("eɛ", Viseme(0.7, 0.6)),
    ("aɑæɐʌ", Viseme(1.0, 0.15)),  # open
    ("əɜ", Viseme(0.7, 0.0)),
    ("tdnlszθðkgŋhʔɾç", Viseme(0.45, 0.2)),  # tongue and throat: the lips follow the jaw
):
    for char in chars:
        _SHAPES[char] = shape


def viseme_of(phoneme: str) -> Viseme | None:
    """The mouth shape of one Piper (espeak IPA) phoneme; None for stress, length, breaks."""
    return _SHAPES.get(phoneme)


@dataclass(frozen=True)
class VisemeTrack:
    """A sentence's shapes: `shapes[i]` from `starts[i]` seconds into its audio."""

    starts: list[float]
    shapes: list[Viseme]

    def over(self, start: float, end: float) -> Viseme:
        """The shape to show for a frame spanning `start`..`end` s: a closure of the lips
        if one falls in it (an "m" is shorter than a frame, and seeing it matters most),
        else the shape heard longest."""
        i = max(0, bisect.bisect_right(self.starts, start) - 1)
        best, best_s = _REST, 0.0
        while i < len(self.starts) and self.starts[i] < end:
            until = self.starts[i + 1] if i + 1 < len(self.starts) else end
            heard = min(end, until) - max(start, self.starts[i])
            shape = self.shapes[i]
            if shape.shut and heard >= 0.01:
                return shape
            if heard > best_s:
                best, best_s = shape, heard
            i += 1
        return best


def viseme_track(chunks: list[Any]) -> VisemeTrack | None:
    """The track of Piper AudioChunks with alignments; None when they have none."""
    timed = timed_phonemes(chunks)
    if not timed:
        return None
    rate = float(chunks[0].sample_rate)
    starts: list[float] = []
    shapes: list[Viseme] = []
    for p in timed:
        shape = viseme_of(p.phoneme)
        if shape is not None or p.phoneme in " ,.;:!?":
            starts.append(p.start / rate)
            shapes.append(shape or _REST)
    return VisemeTrack(starts, shapes) if starts else None
