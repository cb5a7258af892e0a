"""Rebuild the real-speech corpus (`tests/data/real_speech/`) from public repositories.

Every clip is real human speech from a source whose licence allows it (public domain or
CC BY 4.0), taken from a public GitHub repository at a recorded commit, converted to
16 kHz mono FLAC, with its source's own transcript and the span of its speech measured
(`localagent.testing.real_speech.measure`). The index (`index.json`) records every source,
licence, repository, commit and path. Run it where `git` can read the repositories (the
project's tools mirror them as bare repositories):

    python scripts/real_speech_build.py MIRRORS_DIR

where MIRRORS_DIR holds `<owner>+<name>/repo` git directories.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import av
import numpy as np
import soxr

from localagent.testing.real_speech import DATA_DIR, RATE, SETS, measure

ALIF = "alifsemi/alif_ml-embedded-evaluation-kit"
TFLM = "tensorflow/tflite-micro"
COQUI = "coqui-ai/TTS"
WHISPER_CPP = "ggerganov/whisper.cpp"
CC_BY = "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)"

SOURCES: dict[str, dict[str, str]] = {
    "librispeech": {
        "name": "LibriSpeech ASR corpus (openslr.org/12), read audiobooks from LibriVox",
        "licence": CC_BY + "; (c) 2014 Vassil Panayotov",
        "repo": ALIF,
        "notes": "transcripts from resources/asr/samples/files.md, which names each flac",
    },
    "speech-commands": {
        "name": "Speech Commands v0.02 (Warden 2018, arXiv:1804.03209), one word per speaker",
        "licence": CC_BY + "; Google",
        "repo": ALIF + " and " + TFLM,
        "notes": "the word is the label; alif's files.md names each original clip",
    },
    "ljspeech": {
        "name": "LJ Speech 1.1 (Keith Ito), one woman reading non-fiction (LibriVox)",
        "licence": "Public domain",
        "repo": COQUI,
        "notes": "transcripts from tests/data/ljspeech/metadata.csv at commit 25c07e3d",
    },
    "jfk": {
        "name": "John F. Kennedy, inaugural address, 20 January 1961 (an excerpt)",
        "licence": "Public domain (a work of the US government)",
        "repo": WHISPER_CPP,
        "notes": "transcript from the National Archives' text of the address",
    },
}

LJ_TEXT_COMMIT = "25c07e3d8523ae73f4f5b6053c6691672e6aeb18"

# clip id -> (source, repo, path, [(from_s, to_s) of the file, or None], transcript, speaker)
CLIPS: dict[str, tuple[str, str, str, tuple[float, float] | None, str, str]] = {
    "ls-251-0002": (
        "librispeech",
        ALIF,
        "resources/asr/samples/testing_routine.wav",
        None,
        "This isn't part of your testing routine is it",
        "LibriSpeech 251 (male)",
    ),
    "ls-251-0003": (
        "librispeech",
        ALIF,
        "resources/asr/samples/another_engineer.wav",
        None,
        "Another engineer rushed toward the door to see what was happening outside",
        "LibriSpeech 251 (male)",
    ),
    "ls-251-118436-0001": (
        "librispeech",
        ALIF,
        "resources/asr/samples/i_tell_you.wav",
        None,
        "I tell you it is not poison she cried",
        "LibriSpeech 251 (male)",
    ),
    "ls-3536-0010": (
        "librispeech",
        ALIF,
        "resources/asr/samples/another_door.wav",
        None,
        "And he walked immediately out of the apartment by another door",
        "LibriSpeech 3536",
    ),
    "sc-yes-0b40aa8e": (
        "speech-commands",
        ALIF,
        "resources/kws/samples/yes_no_go_stop.wav",
        (0.0, 1.0),
        "yes",
        "Speech Commands 0b40aa8e",
    ),
    "sc-no-0a2b400e": (
        "speech-commands",
        ALIF,
        "resources/kws/samples/yes_no_go_stop.wav",
        (1.0, 2.0),
        "no",
        "Speech Commands 0a2b400e",
    ),
    "sc-go-0c2ca723": (
        "speech-commands",
        ALIF,
        "resources/kws/samples/yes_no_go_stop.wav",
        (2.0, 3.0),
        "go",
        "Speech Commands 0c2ca723",
    ),
    "sc-stop-0a196374": (
        "speech-commands",
        ALIF,
        "resources/kws/samples/yes_no_go_stop.wav",
        (3.0, 4.0),
        "stop",
        "Speech Commands 0a196374",
    ),
    "sc-down-0a9f9af7": (
        "speech-commands",
        ALIF,
        "resources/kws/samples/down.wav",
        None,
        "down",
        "Speech Commands 0a9f9af7",
    ),
    "sc-right-0d82fd99": (
        "speech-commands",
        ALIF,
        "resources/kws/samples/right_left_up.wav",
        (0.0, 1.0),
        "right",
        "Speech Commands 0d82fd99",
    ),
    "sc-left-0d82fd99": (
        "speech-commands",
        ALIF,
        "resources/kws/samples/right_left_up.wav",
        (1.0, 2.0),
        "left",
        "Speech Commands 0d82fd99",
    ),
    "sc-up-0a2b400e": (
        "speech-commands",
        ALIF,
        "resources/kws/samples/right_left_up.wav",
        (2.0, 3.0),
        "up",
        "Speech Commands 0a2b400e",
    ),
    "sc-yes-tflm": (
        "speech-commands",
        TFLM,
        "tensorflow/lite/micro/examples/micro_speech/testdata/yes_1000ms.wav",
        None,
        "yes",
        "Speech Commands (tflite-micro's yes)",
    ),
    "sc-no-tflm": (
        "speech-commands",
        TFLM,
        "tensorflow/lite/micro/examples/micro_speech/testdata/no_1000ms.wav",
        None,
        "no",
        "Speech Commands (tflite-micro's no)",
    ),
    "jfk": (
        "jfk",
        WHISPER_CPP,
        "samples/jfk.wav",
        (0.0, 10.45),  # the crowd's applause follows, as loud as his voice
        "And so, my fellow Americans: ask not what your country can do for you--ask what you"
        " can do for your country.",
        "John F. Kennedy (male, Boston)",
    ),
}


def _git_show(mirrors: Path, repo: str, path: str, commit: str = "HEAD") -> bytes:
    git_dir = mirrors / repo.replace("/", "+") / "repo"
    return subprocess.run(
        ["git", "-C", str(git_dir), "show", f"{commit}:{path}"], capture_output=True, check=True
    ).stdout


def _commit(mirrors: Path, repo: str) -> str:
    git_dir = mirrors / repo.replace("/", "+") / "repo"
    out = subprocess.run(
        ["git", "-C", str(git_dir), "rev-parse", "HEAD"], capture_output=True, check=True
    )
    return out.stdout.decode().strip()


def _pcm(wav_bytes: bytes, span: tuple[float, float] | None) -> np.ndarray:
    with wave.open(io.BytesIO(wav_bytes)) as w:
        rate, channels = w.getframerate(), w.getnchannels()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    if channels > 1:
        samples = samples.reshape(-1, channels)[:, 0]
    if span is not None:
        samples = samples[int(span[0] * rate) : int(span[1] * rate)]
    if rate != RATE:
        out = soxr.resample(samples.astype(np.float32), rate, RATE)
        samples = np.clip(out, -32768, 32767).astype(np.int16)
    return samples


def _write_flac(path: Path, pcm: np.ndarray) -> None:
    with av.open(str(path), "w", format="flac") as container:
        stream = container.add_stream("flac", rate=RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("mirrors", type=Path)
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    lj_text = {}
    metadata = _git_show(args.mirrors, COQUI, "tests/data/ljspeech/metadata.csv", LJ_TEXT_COMMIT)
    for line in metadata.decode().splitlines():
        ident, text = line.split("|")[:2]
        lj_text[ident] = text
    clips = dict(CLIPS)
    used = {
        piece
        for turn_set in SETS.values()
        for _, pieces in turn_set.turns
        for piece in pieces
        if isinstance(piece, str)
    }
    used |= {
        c for turn_set in SETS.values() for c in turn_set.backchannels + turn_set.interruptions
    }
    for ident in sorted(c for c in used if c.startswith("lj-")):
        path = f"tests/data/ljspeech/wavs/LJ001-{ident[3:]}.wav"
        text = lj_text[f"LJ001-{ident[3:]}"]
        clips[ident] = ("ljspeech", COQUI, path, None, text, "LJ (female)")
    clips = {k: v for k, v in clips.items() if k in used}

    index: dict[str, Any] = {"rate": RATE, "sources": SOURCES, "clips": {}}
    commits: dict[str, str] = {}
    for ident, (source, repo, path, span, transcript, speaker) in sorted(clips.items()):
        commit = commits.setdefault(repo, _commit(args.mirrors, repo))
        pcm = _pcm(_git_show(args.mirrors, repo, path), span)
        speech = measure(pcm)
        _write_flac(args.out / f"{ident}.flac", pcm)
        index["clips"][ident] = {
            "source": source,
            "repo": repo,
            "commit": commit,
            "path": path,
            "span_s": span,
            "speaker": speaker,
            "transcript": transcript,
            "speech_s": [round(float(speech.start), 3), round(float(speech.end), 3)],
            "pauses_s": [[round(float(a), 3), round(float(b), 3)] for a, b in speech.pauses],
        }
        print(
            f"{ident:<22} speech {speech.start:5.2f}-{speech.end:5.2f} s,"
            f" {len(speech.pauses)} pauses"
        )
    (args.out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
