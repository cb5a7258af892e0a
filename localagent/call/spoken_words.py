"""Where each word of a spoken sentence ends in its audio, from Piper's own alignments.

pipecat gives a voice without word timestamps one text frame per sentence, after the
sentence's audio, so an interruption can keep at best whole sentences. Piper knows how
many samples each phoneme took (with its model patched for alignments, which needs the
`onnx` package), so the local avatar can release a sentence word by word as its audio
plays, and a barge-in keeps exactly the words the caller heard.

espeak joins some words into one phonetic word ("on the") and splits others ("24"), so text
words are mapped onto the phonemes by their own phoneme counts, and each word's end is put
at the next word boundary in the audio: a word is never counted as heard before it was.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from pipecat.frames.frames import TTSTextFrame

from localagent.avatar.visemes import VisemeTrack
from localagent.call.phonemes import timed_phonemes

if TYPE_CHECKING:
    from piper import PiperVoice

__all__ = ["SpokenWords", "WordEnds", "grouped", "piece_of", "word_ends"]

WordEnds = list[tuple[str, float]]  # each word of the text and when it ends, in seconds
_KEPT = 64  # sentences whose timings wait for the avatar; more means nobody takes them
# Not sounds of their own: word breaks, sentence marks, stress, length, punctuation. A word
# said alone gets stress it lacks in a sentence, so only the sounds are counted.
_NOT_SOUNDS = frozenset(" ^$_ˈˌː,.;:!?¡¿—…\"'()-")


def _key(context_id: str | None, text: str) -> tuple[str | None, str]:
    return context_id, " ".join(text.split())


class SpokenWords:
    """The word timings of one call's sentences, from its TTS to its avatar."""

    def __init__(self) -> None:
        self._ends: OrderedDict[tuple[str | None, str], WordEnds] = OrderedDict()
        self._visemes: OrderedDict[tuple[str | None, str], VisemeTrack] = OrderedDict()

    def put(
        self,
        context_id: str | None,
        text: str,
        ends: WordEnds,
        visemes: VisemeTrack | None = None,
    ) -> None:
        self._ends[_key(context_id, text)] = ends
        if visemes is not None:
            self._visemes[_key(context_id, text)] = visemes
        for kept in (self._ends, self._visemes):
            while len(kept) > _KEPT:
                kept.popitem(last=False)

    def pop(self, context_id: str | None, text: str) -> WordEnds | None:
        self._visemes.pop(_key(context_id, text), None)
        return self._ends.pop(_key(context_id, text), None)

    def pop_with_visemes(
        self, context_id: str | None, text: str
    ) -> tuple[WordEnds | None, VisemeTrack | None]:
        """The sentence's word ends and its mouth shapes (the local avatar plays both)."""
        visemes = self._visemes.pop(_key(context_id, text), None)
        return self._ends.pop(_key(context_id, text), None), visemes


def grouped(words: WordEnds) -> list[tuple[float, str]]:
    """Words ending at the same moment ("for a", spoken as one) go out together."""
    groups: list[tuple[float, str]] = []
    for word, end_s in words:
        if groups and groups[-1][0] >= end_s:
            groups[-1] = (groups[-1][0], f"{groups[-1][1]} {word}")
        else:
            groups.append((end_s, word))
    return groups


def piece_of(sentence: TTSTextFrame, text: str) -> TTSTextFrame:
    """Words of `sentence`, released once they were played; the sentence's kind of text,
    so the captions and the assistant turn take them as they take sentences."""
    piece = TTSTextFrame(text, sentence.text_type, context_id=sentence.context_id)
    piece.will_be_spoken = sentence.will_be_spoken
    piece.append_to_context = sentence.append_to_context
    piece.segment_id = sentence.segment_id
    return piece


def word_ends(voice: PiperVoice, text: str, chunks: list[Any]) -> WordEnds | None:
    """The end of each word of `text` in the audio of `chunks` (Piper's AudioChunks for it).

    None when the voice gave no alignments, or they do not fit the audio.
    """
    words = text.split()
    spoken = _phonetic_words(chunks)
    if not words or not spoken:
        return None
    counts = [
        max(1, sum(p not in _NOT_SOUNDS for s in voice.phonemize(w) for p in s)) for w in words
    ]
    rate = float(chunks[0].sample_rate)
    ends = _align(counts, [n for n, _ in spoken])
    return [(word, spoken[j][1] / rate) for word, j in zip(words, ends, strict=True)]


def _phonetic_words(chunks: list[Any]) -> list[tuple[int, int]] | None:
    """Each word as the voice spoke it: (its number of sounds, the sample it ends at)."""
    timed = timed_phonemes(chunks)
    if timed is None:
        return None
    spoken: list[tuple[int, int]] = []
    sounds = 0
    for p in timed:
        if p.phoneme == " " and sounds:
            spoken.append((sounds, round(p.start)))
            sounds = 0
        sounds += p.phoneme not in _NOT_SOUNDS
        if p.chunk_end is not None and sounds:
            spoken.append((sounds, p.chunk_end))  # the last word ends with the chunk's audio
            sounds = 0
    return spoken


def _align(counts: list[int], spoken: list[int]) -> list[int]:
    """For each text word, the index of the spoken word it ends in.

    A monotone alignment of the two sequences by their sounds, where up to three text words
    may make one spoken word ("for a") and one text word up to three spoken words ("24").
    """
    n, m = len(counts), len(spoken)
    inf = float("inf")
    best = [[inf] * (m + 1) for _ in range(n + 1)]
    step: list[list[tuple[int, int]]] = [[(0, 0)] * (m + 1) for _ in range(n + 1)]
    best[0][0] = 0.0
    moves = [(1, 1), (2, 1), (3, 1), (1, 2), (1, 3)]
    for i in range(n + 1):
        for j in range(m + 1):
            if best[i][j] == inf:
                continue
            for a, b in moves:
                if i + a > n or j + b > m:
                    continue
                mismatch = abs(sum(counts[i : i + a]) - sum(spoken[j : j + b]))
                cost = best[i][j] + mismatch + 0.5 * (a + b - 2)
                if cost < best[i + a][j + b]:
                    best[i + a][j + b], step[i + a][j + b] = cost, (a, b)
    if best[n][m] == inf:  # the two cannot be paired up: spread the words evenly
        return [min(m - 1, (i + 1) * m // n - 1) for i in range(n)]
    ends: list[int] = []
    i, j = n, m
    while i > 0:
        a, b = step[i][j]
        ends[:0] = [j - 1] * a  # every word of a merged group ends where the group does
        i, j = i - a, j - b
    return ends
