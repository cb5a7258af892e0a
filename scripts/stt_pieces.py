"""Whisper on the pieces of the turn corpus: short answers, letters, digits, sentences.

Each piece the turn corpus says (`localagent.testing.turn_corpus`, both sets, with the
backchannels, interruptions and a cough) in each voice family, padded as pipecat pads a VAD
segment, is transcribed two ways on the same audio:

- pipecat: what `WhisperSTTService` does on its own: faster-whisper's defaults (beam 5,
  the temperature ladder, full 30 s window) and its no-speech filter at 0.4;
- localagent: `localagent.call.transcriber.Transcriber` as the app runs it.

It prints, per family and overall: time per piece (median, p90, max), word error rate on
sentences (3 words or more) and on short pieces, and pieces dropped whole (nothing left
after the no-speech filter: the caller said something and no turn is taken).

    python scripts/stt_pieces.py [--families N ...] [--whisper-model tiny.en]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jiwer
import numpy as np
import soxr
from faster_whisper import WhisperModel

from localagent.call.transcriber import Transcriber
from localagent.cpu import cpu_summary
from localagent.models.resolve import resolve_whisper_model
from localagent.settings import Settings
from localagent.testing.turn_corpus import (
    COUGH,
    HELD_OUT,
    RATE,
    SETS,
    TURNS,
    available,
    speak,
)

PAD_S = 0.2  # audio the VAD keeps before speech starts, about
TRAILING_S = 0.5 + 0.2  # pipecat's trailing silence, and the VAD's stop wait
PIPECAT_NO_SPEECH = 0.4  # WhisperSTTService's default filter


@dataclass
class Tally:
    times: list[float] = field(default_factory=list)
    said: dict[str, list[str]] = field(default_factory=lambda: {"sentence": [], "short": []})
    heard: dict[str, list[str]] = field(default_factory=lambda: {"sentence": [], "short": []})
    dropped: int = 0
    pieces: int = 0


DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _words(text: str) -> str:
    """Lower case, no punctuation, digits as words ("2" is "two")."""
    words = re.findall(r"[a-z0-9']+", text.lower())
    return " ".join(DIGITS[int(w)] if w.isdigit() and len(w) == 1 else w for w in words)


def _pipecat(model: WhisperModel) -> Callable[[np.ndarray], str]:
    def run(audio: np.ndarray) -> str:
        segments, _ = model.transcribe(audio, language="en")
        return " ".join(s.text for s in segments if s.no_speech_prob < PIPECAT_NO_SPEECH)

    return run


def _localagent(transcriber: Transcriber) -> Callable[[np.ndarray], str]:
    def run(audio: np.ndarray) -> str:
        segments, _ = transcriber.transcribe(audio, language="en")
        return " ".join(s.text for s in segments)

    return run


def _row(label: str, tally: Tally) -> str:
    times = sorted(tally.times)
    wer = {
        k: jiwer.wer(tally.said[k], tally.heard[k]) if tally.said[k] else 0.0
        for k in ("sentence", "short")
    }
    return (
        f"{label:<36}{tally.pieces:>6}{statistics.median(times):>8.2f}"
        f"{float(np.percentile(times, 90)):>7.2f}{times[-1]:>7.2f}"
        f"{wer['sentence']:>10.3f}{wer['short']:>8.3f}{tally.dropped:>9}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--families", type=int, nargs="*", help="indexes of the families")
    parser.add_argument("--whisper-model", default="tiny.en")
    args = parser.parse_args()
    print(f"CPU: {cpu_summary()}", flush=True)  # every figure names its CPU

    settings = Settings()
    ref = resolve_whisper_model(args.whisper_model, settings.models_dir)
    model = WhisperModel(str(ref.path), device="cpu", compute_type="int8")
    ways: dict[str, Callable[[np.ndarray], str]] = {
        "pipecat": _pipecat(model),
        "localagent": _localagent(
            Transcriber(
                model, beam_size=settings.whisper_beam_size, window_s=settings.whisper_window_s
            )
        ),
    }
    families = available()
    if args.families:
        families = [families[i] for i in args.families]
    texts = [p for _, pieces in TURNS + HELD_OUT for p in pieces if isinstance(p, str)]
    barges = [t for ts in SETS.values() for t in ts.backchannels + ts.interruptions]
    texts = list(dict.fromkeys([*texts, *barges]))
    tallies: dict[tuple[str, str], Tally] = {}
    for family in families:
        for text in texts:
            said = speak(family, "piece", [text])  # with the room's noise, for that family
            pcm = said.pcm[: int(said.ends_at * RATE)].astype(np.float32) / 32768
            audio = soxr.resample(pcm, RATE, 16000).astype(np.float32)
            audio = np.concatenate(
                [np.zeros(int(PAD_S * 16000), np.float32), audio],
            )
            audio = np.concatenate([audio, np.zeros(int(TRAILING_S * 16000), np.float32)])
            for way, run in ways.items():
                for key in ((family.name, way), ("ALL", way)):
                    tallies.setdefault(key, Tally())
                t0 = time.perf_counter()
                heard = run(audio)
                took = time.perf_counter() - t0
                for key in ((family.name, way), ("ALL", way)):
                    tally: Any = tallies[key]
                    tally.times.append(took)
                    tally.pieces += 1
                    if text == COUGH:
                        continue  # nothing to say; whatever whisper heard is in the WER of none
                    size = "sentence" if len(_words(text).split()) >= 3 else "short"
                    tally.said[size].append(_words(text))
                    tally.heard[size].append(_words(heard) or "-")
                    tally.dropped += not heard.strip()
        print(f"{family.name} done", flush=True)
    print(
        f"\n{'family / how':<36}{'pieces':>6}{'p50 s':>8}{'p90':>7}{'max':>7}"
        f"{'WER sent.':>10}{'short':>8}{'dropped':>9}"
    )
    for (family_name, way), tally in sorted(tallies.items(), key=lambda kv: kv[0][0] == "ALL"):
        print(_row(f"{family_name}, {way}", tally))
    print(
        "\ntime: seconds to transcribe one piece on this machine; WER: word error rate"
        " against the text said (a digit counts as its word); dropped: pieces with words"
        " whose transcript came back empty."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
