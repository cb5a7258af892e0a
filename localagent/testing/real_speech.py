"""Real human speech for turn-taking: recorded people, not synthetic voices.

The clips (`tests/data/real_speech/`, built by `scripts/real_speech_build.py`) come from
sources whose licence allows it, each with its source's own transcript and the span of
its speech measured; `index.json` records every source, licence, repository and commit:

- LibriSpeech (CC BY 4.0): read audiobook sentences, two speakers, one a tag question;
- Speech Commands (CC BY 4.0): one word each ("yes", "no", "stop", ...), eight speakers;
- LJ Speech (public domain): one woman reading; consecutive clips are one sentence cut
  where she paused, so two or three of them make a turn with pauses mid-sentence;
- John F. Kennedy's inaugural address (public domain): a man who pauses for a second in
  the middle of his sentence.

Two sets, by speaker and clip: `real` (which may be tuned on) and `real-held-out` (never
tuned on). Turns are built like `turn_corpus.speak`'s: pieces with known pauses between
them, labelled where the speech really ends; a recording's own pauses (Kennedy's) count
as pauses too.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from localagent.testing import turn_corpus
from localagent.testing.turn_corpus import TurnSet, Utterance

__all__ = [
    "DATA_DIR",
    "RATE",
    "REAL",
    "REAL_HELD_OUT",
    "Speech",
    "available",
    "measure",
    "speak",
    "speaker",
]

RATE = 16000  # what the clips are stored at
DATA_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "real_speech"
FRAME_S = 0.01
MIN_PAUSE_S = 0.15  # a quieter stretch this long inside the speech is a pause


@dataclass(frozen=True)
class Speech:
    """Where the speech in a clip is (seconds)."""

    start: float
    end: float
    pauses: list[tuple[float, float]]


def measure(pcm: np.ndarray, rate: int = RATE) -> Speech:
    """The span of speech in `pcm` and the pauses inside it, from 10 ms frame energy: a frame
    is speech above 10 dB over the clip's noise floor (its 10th percentile) and no more
    than 35 dB under its loudest frame."""
    frame = int(FRAME_S * rate)
    n = len(pcm) // frame
    if n == 0:
        return Speech(0.0, 0.0, [])
    frames = pcm[: n * frame].astype(np.float64).reshape(n, frame)
    rms = np.sqrt(np.mean(frames**2, axis=1)) + 1e-9
    floor = float(np.percentile(rms, 10))
    threshold = max(floor * 10 ** (10 / 20), float(rms.max()) * 10 ** (-35 / 20))
    voiced = np.flatnonzero(rms >= threshold)
    if len(voiced) == 0:
        return Speech(0.0, 0.0, [])
    first, last = int(voiced[0]), int(voiced[-1])
    pauses: list[tuple[float, float]] = []
    for a, b in zip(voiced[:-1], voiced[1:], strict=True):
        if (b - a - 1) * FRAME_S >= MIN_PAUSE_S:
            pauses.append(((a + 1) * FRAME_S, b * FRAME_S))
    return Speech(first * FRAME_S, (last + 1) * FRAME_S, pauses)


# Each turn: its kind, then its pieces: clip ids, or seconds of silence between them.
REAL: list[tuple[str, list[str | float]]] = [
    ("one sentence", ["lj-0009"]),
    ("one sentence", ["ls-251-0003"]),
    ("question", ["ls-251-0002"]),
    ("exclamation", ["ls-251-118436-0001"]),
    ("pause mid-sentence", ["lj-0001", 0.6, "lj-0002"]),
    ("pause mid-sentence", ["lj-0012", 0.7, "lj-0013"]),
    ("pause mid-sentence", ["lj-0016", 0.5, "lj-0017"]),
    ("two pieces, pause after a comma", ["lj-0010", 0.45, "lj-0011"]),
    ("three pieces", ["lj-0003", 0.5, "lj-0004", 0.6, "lj-0005"]),
    ("short answer", ["sc-yes-0b40aa8e"]),
    ("short answer", ["sc-no-0a2b400e"]),
    ("short answer", ["sc-go-0c2ca723"]),
]
REAL_BACKCHANNELS = ["sc-yes-0b40aa8e", "sc-no-0a2b400e"]
REAL_INTERRUPTIONS = ["ls-251-118436-0001", "sc-stop-0a196374"]

REAL_HELD_OUT: list[tuple[str, list[str | float]]] = [
    ("pauses mid-sentence", ["jfk"]),
    ("one sentence", ["ls-3536-0010"]),
    ("one sentence", ["lj-0015"]),
    ("pause mid-sentence", ["lj-0018", 0.55, "lj-0019", 0.45, "lj-0020"]),
    ("pause mid-sentence", ["lj-0021", 0.6, "lj-0022", 0.5, "lj-0023"]),
    ("pause mid-sentence", ["lj-0024", 0.65, "lj-0025"]),
    ("pause mid-sentence", ["lj-0026", 0.5, "lj-0027", 0.6, "lj-0028"]),
    ("pause mid-sentence", ["lj-0029", 0.7, "lj-0030"]),
    ("short answer", ["sc-yes-tflm"]),
    ("short answer", ["sc-no-tflm"]),
    ("short answer", ["sc-down-0a9f9af7"]),
    ("short answer", ["sc-up-0a2b400e"]),
]
REAL_HELD_OUT_BACKCHANNELS = ["sc-right-0d82fd99", "sc-yes-tflm"]
REAL_HELD_OUT_INTERRUPTIONS = ["ls-3536-0010", "sc-left-0d82fd99"]

SETS = {
    "real": TurnSet(REAL, REAL_BACKCHANNELS, REAL_INTERRUPTIONS),
    "real-held-out": TurnSet(
        REAL_HELD_OUT, REAL_HELD_OUT_BACKCHANNELS, REAL_HELD_OUT_INTERRUPTIONS
    ),
}


def available() -> bool:
    return (DATA_DIR / "index.json").exists()


@functools.cache
def _index() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA_DIR / "index.json").read_text())
    return data


@functools.cache
def clip(ident: str) -> np.ndarray:
    """The clip's audio (int16 at RATE), as stored."""
    import av  # aiortc's dependency; only the corpus needs it here

    with av.open(str(DATA_DIR / f"{ident}.flac")) as container:
        chunks = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    return np.concatenate(chunks).astype(np.int16)


def speaker(pieces: list[str | float]) -> str:
    """Who speaks a turn (its first clip's speaker)."""
    first = next(p for p in pieces if isinstance(p, str))
    return str(_index()["clips"][first]["speaker"])


def transcript(pieces: list[str | float]) -> str:
    """The turn's words, from its sources' own transcripts."""
    clips = _index()["clips"]
    return " ".join(clips[p]["transcript"] for p in pieces if isinstance(p, str))


def speak(kind: str, pieces: list[str | float]) -> Utterance:
    """A turn of real speech at the caller's rate, labelled where its speech really ends.

    The first clip keeps the room sound before its speech and the last the room sound
    after it; between clips, the given pause replaces each one's own edges.
    """
    clips = _index()["clips"]
    at_clip = [i for i, p in enumerate(pieces) if isinstance(p, str)]
    parts: list[np.ndarray] = []
    pauses: list[tuple[float, float]] = []
    at = ends_at = 0.0
    for i, part in enumerate(pieces):
        if isinstance(part, float):
            pauses.append((at, at + part))
            parts.append(np.zeros(int(part * RATE), np.int16))
            at += part
            continue
        pcm = clip(part)
        start, end = clips[part]["speech_s"]
        begin = 0.0 if i == at_clip[0] else start
        stop = len(pcm) / RATE if i == at_clip[-1] else end
        pauses += [(at + a - begin, at + b - begin) for a, b in clips[part]["pauses_s"]]
        ends_at = at + end - begin
        parts.append(pcm[int(begin * RATE) : int(stop * RATE)])
        at += stop - begin
    up = soxr.resample(np.concatenate(parts).astype(np.float32), RATE, turn_corpus.RATE)
    out = np.clip(up, -32768, 32767).astype(np.int16)
    starts_at = clips[str(pieces[at_clip[0]])]["speech_s"][0]
    inside = [(a, b) for a, b in pauses if b <= ends_at]
    return Utterance(kind, transcript(pieces), out, ends_at, inside, starts_at)
