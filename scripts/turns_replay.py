"""Turn-taking replayed offline: the turn corpus through the real models once, then the
decisions in simulated time, in seconds.

The real Silero VAD (`SharedSileroVAD`, the call's), whisper (the call's `Transcriber`:
early decodes at the VAD's first quiet windows, final ones at its stop, on the segments
pipecat's segmented STT would cut) and smart-turn (the call's shared session, its verdict
at each stop) run once over every turn, backchannel and interruption of the corpus
(`localagent.testing.turn_corpus`), with the time each took on this machine; the result is
cached (`--cache`). Then `localagent.turns.replay` runs the call's `EndOfTurn` and `BargeIn`
over it and prints `scripts/turns_bench.py`'s table, so the two can be read side by side.

A replay knows the decision's timing exactly but not the rest of a call: the LLM and TTS
(`--answer-s`, first answer audio after the LLM is asked) and WebRTC to the caller's ear
(`--to-caller-s`) are taken from turns_bench's "where the time went". It has no loaded
condition: the models' times are this machine's, measured quiet.

    python scripts/turns_replay.py [--set main|held-out|held-out-2] [--like-bench]
        [--statement-wait 0.7] [--no-speculate] [--no-early-stt] [--slower 2.5 8]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import subprocess
import sys
import time
from dataclasses import asdict
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
from localagent.call.services import SharedSileroVAD
from localagent.call.smart_turn import SharedSmartTurn
from localagent.cpu import cpu_summary
from localagent.settings import Settings
from localagent.testing.turn_corpus import RATE, SETS, Family, Utterance, available, speak
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
RECORDING_VERSION = 1  # bump when what a recording holds changes


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


async def record(engines: Any, settings: Settings, pcm: np.ndarray) -> Recording:
    """What the VAD, whisper and smart-turn make of `pcm` (16 kHz int16, lead silence in)."""
    vad = SharedSileroVAD(engines=SimpleNamespace(vad=engines.vad), sample_rate=IN_RATE)
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
    early_at: list[tuple[float, int]] = []
    vad.on_early_silence(lambda phase: early_at.append((at, phase)))
    state = VADState.QUIET
    for i in range(0, len(pcm) - FRAME + 1, FRAME):
        chunk = pcm[i : i + FRAME]
        at = (i + FRAME) / IN_RATE
        clock.now = 1000.0 + at
        before = len(early_at)
        new = await vad.analyze_audio(chunk.tobytes())
        turn.append_audio(chunk.tobytes(), speaking)
        if not speaking:
            segment_from = max(segment_from, i + FRAME - int(PRE_ROLL_S * IN_RATE))
        if len(early_at) > before and speaking:
            t, phase = early_at[-1]
            early.append(EarlySilence(t, phase, _decode(engines, pcm[segment_from : i + FRAME])))
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
    return Recording(starts, silences, early, early_voices, faint)


def _16k(u: Utterance) -> np.ndarray:
    pcm = soxr.resample(u.pcm.astype(np.float32), RATE, IN_RATE)
    pad = np.zeros(int(LEAD_S * IN_RATE), np.float32)
    tail = np.zeros(int(TAIL_S * IN_RATE), np.float32)
    return np.clip(np.concatenate([pad, pcm, tail]), -32768, 32767).astype(np.int16)


def _key(family: Family, u: Utterance, engines: Any) -> str:
    facts = [
        RECORDING_VERSION,
        family.name,
        u.kind,
        u.text,
        u.pauses,
        str(engines.whisper_model),
        cpu_summary(),
    ]
    return hashlib.sha1(json.dumps(facts, default=str).encode()).hexdigest()[:16]


def _from_json(data: dict[str, Any]) -> Recording:
    silences = [Silence(**{**s, "final": Decode(**s["final"])}) for s in data["silences"]]
    early = [EarlySilence(**{**e, "decode": Decode(**e["decode"])}) for e in data["early_silences"]]
    return Recording(**{**data, "silences": silences, "early_silences": early})


def recorded(
    engines: Any, settings: Settings, family: Family, u: Utterance, cache: Path
) -> Recording:
    path = cache / f"{_key(family, u, engines)}.json"
    if path.exists():
        return _from_json(json.loads(path.read_text()))
    rec = asyncio.run(record(engines, settings, _16k(u)))
    path.write_text(json.dumps(asdict(rec)))
    return rec


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--set", choices=sorted(SETS), default="main")
    parser.add_argument(
        "--like-bench",
        action="store_true",
        help="only the turns turns_bench says in its quiet condition",
    )
    parser.add_argument("--statement-wait", type=float, help="s (the settings' default)")
    parser.add_argument("--no-speculate", action="store_true")
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
    engines = load_engines(settings)
    args.cache.mkdir(parents=True, exist_ok=True)
    replay = ReplaySettings(
        speculate=not args.no_speculate,
        statement_wait_s=args.statement_wait if args.statement_wait else settings.statement_wait_s,
        early_stt=not args.no_early_stt,
        answer_s=args.answer_s,
        to_caller_s=args.to_caller_s,
    )
    turn_set = SETS[args.set]
    results = Results()
    started = time.monotonic()
    for index, family in enumerate(available()):
        kinds = _sample(turn_set.turns, 5 * index, 5, not args.like_bench)
        for kind, pieces in kinds:
            u = speak(family, kind, pieces)
            rec = recorded(engines, settings, family, u, args.cache).slower(*args.slower)
            out = replay_turn(rec, LEAD_S + u.ends_at, replay)
            results.turns.append(
                TurnResult(
                    family.name,
                    "replay",
                    kind,
                    u.text,
                    voice_to_voice=out.voice_to_voice,
                    cut_in=out.cut_in,
                    split=out.split,
                    multi=bool(u.pauses),
                    early_asks=out.asked_early,
                )
            )
        barges = _sample(turn_set.backchannels, 2 * index, 2, not args.like_bench)
        said = [("backchannel", t) for t in barges]
        said += [
            ("interruption", t)
            for t in _sample(turn_set.interruptions, index, 1, not args.like_bench)
        ]
        for kind, text in said:
            u = speak(family, kind, [text])
            rec = recorded(engines, settings, family, u, args.cache).slower(*args.slower)
            b = replay_barge_in(rec, LEAD_S, replay)
            results.barge_ins.append(
                BargeResult(
                    family.name,
                    "replay",
                    kind,
                    text,
                    talking=True,
                    stopped=b.stopped,
                    silenced_after=b.silenced_after,
                )
            )
        print(
            f"{family.name} done ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True
        )
    print(
        f"replay: turn set {args.set}; {replay}; model times x{args.slower[0]:g} (whisper),"
        f" x{args.slower[1]:g} (smart-turn); {time.monotonic() - started:.0f} s"
    )
    report(results, ["replay"])
    if args.json:
        args.json.write_text(json.dumps(asdict(results), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
