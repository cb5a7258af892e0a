"""Turn-taking replayed offline: the turn corpus through the real models once, then the
decisions in simulated time, in seconds.

The real Silero VAD (`SharedSileroVAD`, the call's), whisper (the call's `Transcriber`:
early decodes at the VAD's first quiet windows, final ones at its stop, on the segments
pipecat's segmented STT would cut) and smart-turn (the call's shared session, its verdict
at each stop) run once over every turn, backchannel and interruption of a set, synthetic
(`localagent.testing.turn_corpus`) or real speech (`localagent.testing.real_speech`), with
the time each took on this machine; the result is cached (`--cache`), with the utterance's
labels. Then `localagent.turns.replay` runs the call's `EndOfTurn` and `BargeIn` over it and
prints one line per set of the figures the targets name (`--details`: turns_bench's own
table too); `--sweep` replays several statement waits, the trade-off between answering
sooner and starting too early.

A replay knows the decision's timing exactly but not the rest of a call: the LLM and TTS
(`--answer-s`, first answer audio after the LLM is asked) and WebRTC to the caller's ear
(`--to-caller-s`) are taken from turns_bench's "where the time went". It has no loaded
condition: the models' times are this machine's, measured quiet.

    python scripts/turns_replay.py [--set all | main held-out held-out-2 real real-held-out]
        [--like-bench] [--statement-wait S] [--unsure-wait S] [--sweep S ...] [--no-rejoin]
        [--vad-start S] [--early-windows 2|3] [--no-speculate] [--no-early-stt]
        [--slower 2.5 8] [--details] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import soxr
from pipecat.audio.turn.smart_turn import base_smart_turn
from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
from pipecat.audio.vad.vad_analyzer import VADState
from platformdirs import user_cache_dir
from turns_bench import BargeResult, Results, TurnResult, _sample, report

from localagent.call.engines import load_engines
from localagent.call.services import EARLY_SILENCE_WINDOWS, VAD_START_S, SharedSileroVAD
from localagent.call.smart_turn import SharedSmartTurn
from localagent.cpu import cpu_summary
from localagent.models.resolve import resolve_whisper_model
from localagent.settings import Settings
from localagent.testing import real_speech
from localagent.testing.turn_corpus import RATE, SETS, Utterance, available, speak
from localagent.turns.replay import (
    Decode,
    EarlySilence,
    Recording,
    ReplaySettings,
    Silence,
    replay_barge_in,
    replay_turn,
)

IN_RATE = 16000  # what the VAD, whisper and smart-turn hear
FRAME = 320  # 20 ms, as WebRTC delivers it
LEAD_S, TAIL_S = 0.5, 2.5  # silence before and after each utterance
PRE_ROLL_S = 1.0  # pipecat's segmented STT keeps this much audio before the VAD's start
TRAILING_S = 0.5  # ... and adds this much silence to each segment
RECORDING_VERSION = 5  # bump when what a recording holds changes
EARLY_WINDOWS = (2, 3)  # quiet VAD windows after which early decodes are recorded


class AudioClock:
    """The time of the audio fed so far, for smart-turn's buffer (it stamps each chunk
    with `time.monotonic()`, which would squeeze audio fed faster than real time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    perf_counter = staticmethod(time.perf_counter)


def _decode(engines: Any, pcm: np.ndarray) -> Decode:
    """whisper as `SharedWhisperSTTService` runs it: the segment plus its trailing silence,
    every segment's text joined (pipecat's no-speech filter is off in a call)."""
    audio = np.concatenate([pcm, np.zeros(int(TRAILING_S * IN_RATE), np.int16)])
    t0 = time.perf_counter()
    segments, _ = engines.whisper.transcribe(audio.astype(np.float32) / 32768, language="en")
    text = "".join(f"{s.text} " for s in segments)
    return Decode(text.strip(), time.perf_counter() - t0)


async def record(
    engines: Any, settings: Settings, pcm: np.ndarray, vad_start_s: float
) -> Recording:
    """What the VAD, whisper and smart-turn make of `pcm` (16 kHz int16, lead silence in),
    with early decodes after each of `EARLY_WINDOWS` quiet windows."""
    vad = SharedSileroVAD(
        engines=SimpleNamespace(vad=engines.vad), sample_rate=IN_RATE, start_secs=vad_start_s
    )
    vad.set_sample_rate(IN_RATE)
    clock = AudioClock()
    base_smart_turn.time = clock  # type: ignore[assignment]
    turn = SharedSmartTurn(
        engines.turn_stop.session, SmartTurnParams(stop_secs=settings.smart_turn_stop_secs)
    )
    turn.set_sample_rate(IN_RATE)
    at = 0.0
    starts: list[float] = []
    silences: list[Silence] = []
    early: list[EarlySilence] = []
    early_voices: list[float] = []
    faint: list[float] = []
    segment_from = 0  # sample where the STT's buffer starts
    speaking = False
    vad.on_early_voice(lambda: early_voices.append(at))
    vad.on_faint_voice(lambda: faint.append(at))
    decoded: set[tuple[int, int]] = set()  # (silence phase, quiet windows)
    state = VADState.QUIET
    for i in range(0, len(pcm) - FRAME + 1, FRAME):
        chunk = pcm[i : i + FRAME]
        at = (i + FRAME) / IN_RATE
        clock.now = 1000.0 + at
        new = await vad.analyze_audio(chunk.tobytes())
        turn.append_audio(chunk.tobytes(), speaking)
        if not speaking:
            segment_from = max(segment_from, i + FRAME - int(PRE_ROLL_S * IN_RATE))
        for windows in EARLY_WINDOWS:
            point = (vad.silence_phase, windows)
            if speaking and vad.quiet_windows >= windows and point not in decoded:
                decoded.add(point)
                audio = pcm[segment_from : i + FRAME]
                early.append(EarlySilence(at, point[0], _decode(engines, audio), windows))
        if new != state and new in (VADState.SPEAKING, VADState.QUIET):
            if new == VADState.SPEAKING:
                starts.append(at)
                speaking = True
            else:
                speaking = False
                final = _decode(engines, pcm[segment_from : i + FRAME])
                t0 = time.perf_counter()
                verdict, _ = await turn.analyze_end_of_turn()
                took = time.perf_counter() - t0
                complete = verdict.name == "COMPLETE"
                silences.append(Silence(at, vad.silence_phase, final, complete, took))
                segment_from = i + FRAME
            state = new
    await turn.cleanup()
    return Recording(starts, silences, early, early_voices, faint, start_secs=vad_start_s)


def _16k(u: Utterance) -> np.ndarray:
    pcm = soxr.resample(u.pcm.astype(np.float32), RATE, IN_RATE)
    pad = np.zeros(int(LEAD_S * IN_RATE), np.float32)
    tail = np.zeros(int(TAIL_S * IN_RATE), np.float32)
    return np.clip(np.concatenate([pad, pcm, tail]), -32768, 32767).astype(np.int16)


class Engines:
    """The call's models, loaded on the first recording (a replay from the cache needs
    none of them)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.whisper_model = resolve_whisper_model(settings.whisper_model, settings.models_dir)
        self._loaded: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._loaded is None:
            self._loaded = load_engines(self._settings)
        return getattr(self._loaded, name)


def _key(voice: str, kind: str, pieces: list[str | float], engines: Any, vad_s: float) -> str:
    facts = [
        RECORDING_VERSION,
        vad_s,
        voice,
        kind,
        pieces,
        str(engines.whisper_model),
        cpu_summary(),
    ]
    return hashlib.sha1(json.dumps(facts, default=str).encode()).hexdigest()[:16]


def _from_json(data: dict[str, Any]) -> Recording:
    silences = [Silence(**{**s, "final": Decode(**s["final"])}) for s in data["silences"]]
    early = [EarlySilence(**{**e, "decode": Decode(**e["decode"])}) for e in data["early_silences"]]
    return Recording(**{**data, "silences": silences, "early_silences": early})


@dataclass
class Said:
    """One utterance of a set: who says it, where its speech is, what the models made of
    it. The labels are kept with the recording: Piper's audio differs between processes,
    so an utterance is synthesized once, when it is first recorded."""

    voice: str
    kind: str
    text: str
    starts_at: float
    ends_at: float
    pauses: list[tuple[float, float]]
    rec: Recording


def recorded(
    engines: Any,
    settings: Settings,
    voice: str,
    kind: str,
    pieces: list[str | float],
    say: Callable[[str, list[str | float]], Utterance],
    cache: Path,
    vad_s: float,
) -> Said:
    path = cache / f"{_key(voice, kind, pieces, engines, vad_s)}.json"
    if path.exists():
        data = json.loads(path.read_text())
        labels = {k: data[k] for k in ("text", "starts_at", "ends_at", "pauses")}
        return Said(voice, kind, **labels, rec=_from_json(data["recording"]))
    u = say(kind, pieces)
    rec = asyncio.run(record(engines, settings, _16k(u), vad_s))
    said = Said(voice, kind, u.text, u.starts_at, u.ends_at, u.pauses, rec)
    labels = {"text": u.text, "starts_at": u.starts_at, "ends_at": u.ends_at, "pauses": u.pauses}
    path.write_text(json.dumps({**labels, "recording": asdict(rec)}))
    return said


@dataclass
class Corpus:
    turns: list[Said]
    barges: list[Said]


def _voices(set_name: str) -> list[tuple[str, Callable[[str, list[str | float]], Utterance]]]:
    if set_name in real_speech.SETS:
        return [("real speech", real_speech.speak)]
    return [(f.name, functools.partial(speak, f)) for f in available()]


def corpus(
    set_name: str,
    engines: Any,
    settings: Settings,
    cache: Path,
    like_bench: bool,
    vad_s: float = VAD_START_S,
) -> Corpus:
    """Every turn and barge-in of a set, recorded (or from the cache)."""
    real = set_name in real_speech.SETS
    turn_set = real_speech.SETS[set_name] if real else SETS[set_name]
    every = real or not like_bench
    out = Corpus([], [])
    started = time.monotonic()
    for index, (name, say) in enumerate(_voices(set_name)):
        for kind, pieces in _sample(turn_set.turns, 5 * index, 5, every):
            voice = real_speech.speaker(pieces) if real else name
            out.turns.append(recorded(engines, settings, voice, kind, pieces, say, cache, vad_s))
        said = [("backchannel", t) for t in _sample(turn_set.backchannels, 2 * index, 2, every)]
        said += [("interruption", t) for t in _sample(turn_set.interruptions, index, 1, every)]
        for kind, text in said:
            voice = real_speech.speaker([text]) if real else name
            out.barges.append(recorded(engines, settings, voice, kind, [text], say, cache, vad_s))
        print(f"{set_name}: {name} ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return out


def replay(c: Corpus, settings: ReplaySettings, slower: tuple[float, float]) -> Results:
    results = Results()
    for said in c.turns:
        out = replay_turn(said.rec.slower(*slower), LEAD_S + said.ends_at, settings)
        results.turns.append(
            TurnResult(
                said.voice,
                "replay",
                said.kind,
                said.text,
                voice_to_voice=out.voice_to_voice,
                cut_in=out.cut_in,
                split=out.split,
                multi=bool(said.pauses),
                early_asks=out.asked_early,
                early_starts=len(out.overlaps),
                heard_early=out.overlaps,
                answered=out.answered,
            )
        )
    for said in c.barges:
        b = replay_barge_in(said.rec.slower(*slower), LEAD_S + said.starts_at, settings)
        results.barge_ins.append(
            BargeResult(
                said.voice,
                "replay",
                said.kind,
                said.text,
                talking=True,
                stopped=b.stopped,
                silenced_after=b.silenced_after,
            )
        )
    return results


SUMMARY = (
    f"{'':<24}{'turns':>6}{'v2v p50':>8}{'p90':>6}{'early':>6}{'heard':>6}{'ms':>5}"
    f"{'cut-in':>9}{'split':>8}{'1-word':>8}{'bc stop':>9}{'silenced':>9}"
)
TALKED_OVER_S = 0.3  # more of an early answer than this heard is a cut-in, not a blip


def summary_row(label: str, r: Results) -> str:
    """One line of the figures the targets name, for one set (or all)."""
    turns = r.turns
    v2v = [t.voice_to_voice for t in turns if t.voice_to_voice is not None]
    early = [t for t in turns if t.early_starts]
    heard = [h for t in early for h in t.heard_early]
    cut_in = [t for t in turns if t.split or any(h > TALKED_OVER_S for h in t.heard_early)]
    paused = [t for t in turns if t.multi]
    short = [t for t in turns if t.kind == "short answer"]
    bcs = [b for b in r.barge_ins if b.kind == "backchannel"]
    silenced = [
        b.silenced_after
        for b in r.barge_ins
        if b.kind == "interruption" and b.silenced_after is not None
    ]
    return (
        f"{label:<24}{len(turns):>6}{_median(v2v):>8}{_p90(v2v):>6}"
        f"{len(early):>6}{sum(t.cut_in for t in turns):>6}{_median(heard, 1000, '.0f'):>5}"
        f"{len(cut_in):>5}{_pct(len(cut_in), len(turns)):>4}"
        f"{sum(t.split for t in paused):>4}/{len(paused):<3}"
        f"{sum(t.answered for t in short):>5}/{len(short):<2}"
        f"{sum(b.stopped for b in bcs):>6}/{len(bcs):<2}"
        f"{_median(silenced):>9}"
    )


def _pct(n: int, of: int) -> str:
    return f"{100 * n / of:.0f}%" if of else "-"


def _median(values: list[float], scale: float = 1.0, fmt: str = ".2f") -> str:
    return format(statistics.median(values) * scale, fmt) if values else "-"


def _p90(values: list[float]) -> str:
    return f"{float(np.percentile(values, 90)):.2f}" if values else "-"


LEGEND = (
    "v2v: the real end of the caller's speech to the bot's first audio at their ear (s), for"
    " turns the bot let finish; early: turns where an answer was started before the caller"
    " had finished; heard: of those, turns where some of it reached their ear; ms: median ms"
    " of such an answer a caller who goes on hears (over every early start); cut-in: turns"
    f" where they heard more than {TALKED_OVER_S:g} s of it, or that were answered in parts;"
    " split: turns with pauses answered in parts (an end the caller went on after within"
    " CONTINUATION_S is taken back and the turn answered whole); 1-word: one-word answers"
    " answered; bc stop: backchannels or coughs that stopped the bot; silenced: an"
    " interruption's first sound to the bot's silence at the caller (median s)."
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--set", nargs="+", choices=[*SETS, *real_speech.SETS, "all"], default=["main"]
    )
    parser.add_argument(
        "--like-bench",
        action="store_true",
        help="only the turns turns_bench says in its quiet condition (synthetic sets)",
    )
    parser.add_argument("--statement-wait", type=float, help="s (the settings' default)")
    parser.add_argument("--unsure-wait", type=float, help="s (words.UNSURE_WAIT_S)")
    parser.add_argument(
        "--sweep",
        nargs="+",
        type=float,
        metavar="WAIT",
        help="replay each statement wait and print the trade-off (latency against cut-ins)",
    )
    parser.add_argument(
        "--vad-start", type=float, default=VAD_START_S, help="the VAD's start_secs (recorded)"
    )
    parser.add_argument(
        "--early-windows",
        type=int,
        choices=EARLY_WINDOWS,
        default=EARLY_SILENCE_WINDOWS,
        help="quiet VAD windows before whisper's early decode",
    )
    parser.add_argument("--no-speculate", action="store_true")
    parser.add_argument(
        "--no-rejoin", action="store_true", help="a turn gone on with is answered in parts"
    )
    parser.add_argument("--no-early-stt", action="store_true")
    parser.add_argument(
        "--slower",
        nargs=2,
        type=float,
        metavar=("WHISPER", "SMART_TURN"),
        default=(1.0, 1.0),
        help="replay as on a CPU where whisper and smart-turn take this many times as long",
    )
    parser.add_argument("--answer-s", type=float, default=ReplaySettings.answer_s)
    parser.add_argument("--to-caller-s", type=float, default=ReplaySettings.to_caller_s)
    parser.add_argument(
        "--cache", type=Path, default=Path(user_cache_dir("localagent")) / "turns_replay"
    )
    parser.add_argument("--details", action="store_true", help="per voice and kind, too")
    parser.add_argument("--json", type=Path, help="also write every turn's result here")
    args = parser.parse_args()

    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    print(f"CPU: {cpu_summary()}")
    print(
        "lscpu: "
        + " ".join(
            line.split(":", 1)[1].strip()
            for line in lscpu.splitlines()
            if line.startswith(("Model name", "CPU(s)"))
        )
    )
    settings = Settings(turn_stop="smart-turn")
    engines = Engines(settings)
    args.cache.mkdir(parents=True, exist_ok=True)
    sets = [*SETS, *real_speech.SETS] if "all" in args.set else args.set
    started = time.monotonic()
    corpora = {
        name: corpus(name, engines, settings, args.cache, args.like_bench, args.vad_start)
        for name in sets
    }
    base = ReplaySettings(
        speculate=not args.no_speculate,
        statement_wait_s=args.statement_wait if args.statement_wait else settings.statement_wait_s,
        early_stt=not args.no_early_stt,
        early_silence_windows=args.early_windows,
        unsure_wait_s=args.unsure_wait,
        rejoin=not args.no_rejoin,
        answer_s=args.answer_s,
        to_caller_s=args.to_caller_s,
    )
    print(
        f"replay: {base}; model times x{args.slower[0]:g} (whisper), x{args.slower[1]:g}"
        f" (smart-turn); {time.monotonic() - started:.0f} s"
    )
    everything: dict[str, Results] = {}
    print(f"\n{'set':<24}" + SUMMARY[24:])
    for name, c in corpora.items():
        everything[name] = replay(c, base, args.slower)
        print(summary_row(name, everything[name]))
    if len(corpora) > 1:
        print(summary_row("ALL", _joined(everything.values())))
    print("\n" + LEGEND)
    if args.sweep:
        print(f"\n{'statement wait (s)':<24}" + SUMMARY[24:])
        for wait in args.sweep:
            tried = replace(base, statement_wait_s=wait)
            joined = _joined(replay(c, tried, args.slower) for c in corpora.values())
            print(summary_row(f"{wait:.2f}", joined))
    if args.details:
        for name, r in everything.items():
            print(f"\n== {name}")
            report(r, ["replay"])
    if args.json:
        args.json.write_text(json.dumps({n: asdict(r) for n, r in everything.items()}, indent=2))
    return 0


def _joined(results: Iterable[Results]) -> Results:
    out = Results()
    for r in results:
        out.turns += r.turns
        out.barge_ins += r.barge_ins
    return out


if __name__ == "__main__":
    sys.exit(main())
