"""Turn-taking on voices the project was not tuned on: latency, cut-ins, split turns, barge-in.

Starts `python -m localagent` against the project's Ollama-compatible test server (first token
after --ttft, 0.15 s by default) and calls it over real WebRTC with an aiortc caller that
speaks the turns of `localagent.testing.turn_corpus` in each voice family: one call per
family, quiet and then with one core kept busy by another process (--conditions). Each turn
is labelled with where it really ends, so the benchmark can tell:

- voice-to-voice at the caller: the real end of the caller's last word to the first bot
  audio heard (turns the bot let finish);
- false cut-ins: bot audio heard before the caller's turn was over (in one of its pauses);
- split turns: taken as two or more user turns (the session record says), of those with a
  pause; and how often the LLM was asked before the turn was over (speculative answers);
- backchannels: "yeah", "mm-hm", "okay" or a cough 1.2 s into a long answer; did the bot
  give its answer up, and how long did it pause?
- interruptions: "Wait, I have a different question." at the same point; how long from the
  caller starting to speak to the bot falling silent (at the caller)?

A benchmark, not a test: it prints a table (per family and condition, then overall) and can
write JSON. Each family says five of the twelve turns in each condition (the five families
of a condition say every kind two or three times), two of the backchannels or a cough, and
one interruption, so that a run takes under 10 minutes on a 2-core machine; --full says
everything everywhere (about 20 minutes). --set held-out and held-out-2 say other turns of
the same kinds; real and real-held-out say every turn of the real-speech corpus
(`localagent.testing.real_speech`) in one call each.

    python scripts/turns_bench.py [--conditions quiet loaded] [--families N ...] [--full]
        [--set main|held-out|held-out-2|real|real-held-out] [--ttft 0.15] [--json out.json]
        [-- extra localagent flags]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from localagent.cpu import cpu_summary
from localagent.events import LATENCY_LABELS
from localagent.testing import real_speech
from localagent.testing.app_process import fetch_status, run_app
from localagent.testing.caller import Caller
from localagent.testing.fake_ollama import ThreadedFakeOllama
from localagent.testing.turn_corpus import (
    RATE,
    SETS,
    Family,
    TurnSet,
    Utterance,
    available,
    speak,
)

SHORT_REPLY = "Okay."
LONG_REPLY = (
    "We open at nine in the morning on weekdays and at ten on Saturdays. "
    "On Sundays we are closed all day."
)
ASK_LONG = "Tell me all of your opening hours, please."
SILENT_RUN_S = 0.5  # this long without bot audio: the bot has stopped talking
GAVE_UP_S = 1.5  # a backchannel after which the bot is silent this long stopped it
VOICED = 0.01  # RMS (of full scale) of bot audio that counts as speech
LISTEN_S = 2.5  # how long after the caller's barge-in the bot is listened to
ASKED_WITHIN_S = 2.0  # after the caller's last word, the LLM is asked by then if at all


@dataclass
class TurnResult:
    family: str
    condition: str
    kind: str
    text: str
    voice_to_voice: float | None = None  # s, when the bot let the caller finish
    cut_in: bool = False
    split: bool = False  # taken as two or more user turns (from the session record)
    multi: bool = False  # the turn has pauses inside it
    early_asks: int = 0  # LLM requests before the turn was over (speculations, splits)
    early_starts: int = 0  # answers started before the turn was over (the replay's)
    heard_early: list[float] = field(default_factory=list)  # s the caller heard of each
    answered: bool = True
    started: float = 0.0  # monotonic, for matching the session record
    until: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)  # the server's TurnLatency


@dataclass
class BargeResult:
    family: str
    condition: str
    kind: str  # "backchannel" | "interruption"
    text: str
    talking: bool = False  # the bot was speaking when the caller began (else not counted)
    stopped: bool = False  # the answer was given up: a new turn taken, or the bot fell silent
    silenced_after: float | None = None  # s from the caller's first sound to the bot's silence
    pause: float = 0.0  # s, the longest silence of the bot in the LISTEN_S after it


@dataclass
class Results:
    turns: list[TurnResult] = field(default_factory=list)
    barge_ins: list[BargeResult] = field(default_factory=list)


def _silent_runs(caller: Caller, since: float, until: float) -> list[tuple[float, float]]:
    """(start, length) of each run without bot speech in [since, until]."""
    runs: list[tuple[float, float]] = []
    start: float | None = None
    last = since
    for a in (a for a in caller.audio if since <= a.at <= until):
        if a.rms >= VOICED:
            if start is not None:
                runs.append((start, a.at - start))
            start = None
        elif start is None:
            start = a.at
        last = a.at
    if start is not None:
        runs.append((start, last - start))
    return runs


async def _settle(caller: Caller) -> None:
    with suppress(TimeoutError):
        await caller.wait_for_silence(quiet_s=0.6, timeout=30)


async def _turn(caller: Caller, fake: ThreadedFakeOllama, u: Utterance, out: TurnResult) -> None:
    out.started = time.monotonic()
    asked_before = len(fake.server.request_times)
    ended = await caller.say(u.pcm)
    real_end = ended - len(u.pcm) / RATE + u.ends_at
    requests = fake.server.request_times[asked_before:]
    out.early_asks = sum(t < real_end - 0.05 for t in requests)
    out.cut_in = any(a.at < real_end for a in caller.voiced_since(out.started + 0.05, VOICED))
    if not out.cut_in:
        try:
            first = await caller.wait_for_voice(since=real_end, timeout=8, threshold=VOICED)
            out.voice_to_voice = first - real_end
        except TimeoutError:
            pass  # no answer at all: counted as neither
    await _settle(caller)
    out.until = time.monotonic()


async def _barge(
    caller: Caller, fake: ThreadedFakeOllama, ask: np.ndarray, u: Utterance, out: BargeResult
) -> None:
    fake.server.default_reply = LONG_REPLY  # until the long answer has begun
    ended = await caller.say(ask)
    try:
        first = await caller.wait_for_voice(since=ended, timeout=10, threshold=VOICED)
    except TimeoutError:
        return
    finally:
        fake.server.default_reply = SHORT_REPLY
    await asyncio.sleep(max(0.0, first + 1.2 - time.monotonic()))
    asked_before = len(fake.server.request_times)
    ended = await caller.say(u.pcm)
    sound_at = ended - len(u.pcm) / RATE + u.starts_at
    out.talking = any(
        sound_at - 0.3 <= a.at <= sound_at for a in caller.voiced_since(first, VOICED)
    )
    await asyncio.sleep(max(0.0, sound_at + LISTEN_S - time.monotonic()))
    runs = _silent_runs(caller, sound_at, sound_at + LISTEN_S)
    out.pause = max((length for _, length in runs), default=0.0)
    # Did the caller's words become a turn? (an interruption's, once it has been said)
    await asyncio.sleep(max(0.0, ended + ASKED_WITHIN_S - time.monotonic()))
    asked = len(fake.server.request_times) > asked_before
    silenced = [start for start, length in runs if length >= SILENT_RUN_S]
    if out.kind == "interruption":
        out.stopped = asked and bool(silenced)
        out.silenced_after = (silenced[0] - sound_at) if silenced else None
    else:
        out.stopped = asked or out.pause >= GAVE_UP_S
    await _settle(caller)


def _sample(items: list[Any], offset: int, count: int, full: bool) -> list[Any]:
    """`count` of `items` from `offset` on (all with `full`): families share the corpus out,
    so every kind is heard in each condition while a run stays short."""
    if full:
        return items
    return [items[(offset + i) % len(items)] for i in range(count)]


async def one_family(
    url: str,
    fake: Any,  # ThreadedFakeOllama
    family: Family,
    index: int,
    condition: str,
    turn_set: TurnSet,
    full: bool,
    results: Results,
) -> None:
    shift = index + (condition == "loaded")
    # five turns a family: the five families of a condition say 25, each kind two or three
    # times, the other condition from another offset
    kinds = _sample(turn_set.turns, 5 * index + 6 * (condition == "loaded"), 5, full)
    turns = [speak(family, kind, pieces) for kind, pieces in kinds]
    ask = speak(family, "question", [ASK_LONG]).pcm
    backchannels = _sample(turn_set.backchannels, 2 * shift, 2, full)
    barges = [speak(family, "backchannel", [t]) for t in backchannels]
    interruptions = _sample(turn_set.interruptions, shift, 1, full)
    barges += [speak(family, "interruption", [t]) for t in interruptions]
    await one_call(url, fake, family.name, condition, turns, ask, barges, results)


async def real_speech_call(
    url: str, fake: Any, set_name: str, condition: str, results: Results
) -> None:
    """Every turn, backchannel and interruption of a real-speech set, in one call (the
    question that starts a long answer is Piper's)."""
    turn_set = real_speech.SETS[set_name]
    turns = [real_speech.speak(kind, pieces) for kind, pieces in turn_set.turns]
    ask = speak(available()[-1], "question", [ASK_LONG]).pcm
    barges = [real_speech.speak("backchannel", [c]) for c in turn_set.backchannels]
    barges += [real_speech.speak("interruption", [c]) for c in turn_set.interruptions]
    await one_call(url, fake, "real speech", condition, turns, ask, barges, results)


async def one_call(
    url: str,
    fake: Any,  # ThreadedFakeOllama
    voice: str,
    condition: str,
    turns: list[Utterance],
    ask: np.ndarray,
    barges: list[Utterance],
    results: Results,
) -> None:
    async with Caller(url) as caller:
        await caller.wait_for_voice(since=0.0, timeout=120)  # the greeting
        await _settle(caller)
        for u in turns:
            result = TurnResult(voice, condition, u.kind, u.text, multi=bool(u.pauses))
            await _turn(caller, fake, u, result)
            results.turns.append(result)
        for u in barges:
            barge = BargeResult(voice, condition, u.kind, u.text)
            await _barge(caller, fake, ask, u, barge)
            if barge.talking:
                results.barge_ins.append(barge)


def mark_splits(results: Results, record: Path, wall_offset: float) -> None:
    """A turn is split if the session record holds two or more user turns from its time;
    each turn also gets the server's figures for its last answer (where the time went)."""
    with sqlite3.connect(record) as db:
        rows = [
            (kind, at - wall_offset, json.loads(payload))
            for kind, at, payload in db.execute(
                "SELECT kind, at, payload FROM events WHERE kind IN ('Turn', 'TurnLatency')"
            )
        ]
    user_turns = [  # a turn that goes on with the last was answered with it: not a split
        at
        for kind, at, p in rows
        if kind == "Turn" and p.get("role") == "user" and not p.get("continues")
    ]
    latencies = [(at, p) for kind, at, p in rows if kind == "TurnLatency"]
    for t in results.turns:
        t.split = sum(t.started <= at <= t.until for at in user_turns) >= 2
        mine = [p for at, p in latencies if t.started <= at <= t.until]
        if mine and t.voice_to_voice is not None:
            t.stages = {k: float(mine[-1][k]) for k in STAGES if k in mine[-1]}


@contextmanager
def busy_core(on: bool) -> Any:
    """One core kept busy by another process, as a browser or a build would."""
    if not on:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"


def _p90(values: list[float]) -> str:
    return f"{float(np.percentile(values, 90)):.2f}" if values else "-"


def _row(label: str, turns: list[TurnResult], barges: list[BargeResult]) -> str:
    v2v = [t.voice_to_voice for t in turns if t.voice_to_voice is not None]
    multi = [t for t in turns if t.multi]
    backchannels = [b for b in barges if b.kind == "backchannel"]
    interrupts = [b for b in barges if b.kind == "interruption"]
    silenced = [b.silenced_after for b in interrupts if b.silenced_after is not None]
    return (
        f"{label:<34}{len(turns):>5}{_median(v2v):>8}{_p90(v2v):>7}"
        f"{sum(t.cut_in for t in turns):>4}/{len(turns):<3}"
        f"{sum(t.split for t in multi):>5}/{len(multi):<3}"
        f"{sum(t.early_asks for t in turns):>6}"
        f"{sum(b.stopped for b in backchannels):>5}/{len(backchannels):<3}"
        f"{_median([b.pause for b in backchannels]):>7}"
        f"{_median(silenced):>9} ({sum(b.stopped for b in interrupts)}/{len(interrupts)})"
    )


HEADER = (
    f"{'turns':>5}{'v2v p50':>8}{'p90':>7}{'cut-in':>8}{'split':>9}{'early':>6}"
    f"{'bc stop':>9}{'pause':>7}{'silenced':>11}"
)


STAGES = tuple(k for k in LATENCY_LABELS if k != "tools")  # the session record's figures


def stage_table(turns: list[TurnResult]) -> None:
    """Median server figures per kind of turn, and the caller's minus the server's
    voice-to-voice (WebRTC, jitter buffers and the TTS's leading silence)."""
    timed = [t for t in turns if t.stages and t.voice_to_voice is not None]
    if not timed:
        return
    names = [*STAGES[:-1], "server", "to caller", "caller"]
    print(f"\n{'where the time went (medians, s)':<34}" + "".join(f"{n:>10}" for n in names))
    for kind in [*dict.fromkeys(t.kind for t in timed), None]:
        group = [t for t in timed if kind is None or t.kind == kind]
        cols = [statistics.median(t.stages.get(k, 0.0) for t in group) for k in STAGES]
        caller = statistics.median(t.voice_to_voice or 0.0 for t in group)
        outward = statistics.median(
            (t.voice_to_voice or 0.0) - t.stages.get("voice_to_voice", 0.0) for t in group
        )
        row = "".join(f"{c:>10.3f}" for c in [*cols, outward, caller])
        print(f"{(kind or 'ALL') + f' ({len(group)})':<34}{row}")


def report(results: Results, conditions: list[str]) -> None:
    print(f"\n{'voice family / condition':<34}{HEADER}")
    families = list(dict.fromkeys(t.family for t in results.turns))
    for condition in conditions:
        for family in families:
            turns = [t for t in results.turns if (t.family, t.condition) == (family, condition)]
            barges = [
                b for b in results.barge_ins if (b.family, b.condition) == (family, condition)
            ]
            print(_row(f"{family}, {condition}", turns, barges))
        print(
            _row(
                f"ALL, {condition}",
                [t for t in results.turns if t.condition == condition],
                [b for b in results.barge_ins if b.condition == condition],
            )
        )
    stage_table(results.turns)
    kinds = list(dict.fromkeys(t.kind for t in results.turns))
    print(f"\n{'turn kind':<34}{HEADER[:49]}")
    for kind in kinds:
        print(_row(kind, [t for t in results.turns if t.kind == kind], [])[:83])
    print(
        "\nv2v: the caller's real end of speech to the first bot audio heard (s); cut-in: bot"
        " audio before the turn was over; split: turns (of those with pauses) the session"
        " record holds as two or more user turns; early: LLM requests before the turn was"
        " over (speculative answers, withdrawn or not, and splits); bc stop: backchannels and"
        " coughs after which the bot gave up its answer; pause: their median longest silence"
        " of the bot (s); silenced: caller's first sound to bot silence for real"
        " interruptions (median s, taken as a turn/tried)."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--conditions", nargs="+", default=["quiet", "loaded"])
    parser.add_argument("--families", type=int, nargs="*", help="indexes of the families to run")
    parser.add_argument("--ttft", type=float, default=0.15, help="test server first token, s")
    parser.add_argument("--tokens-per-s", type=float, default=40.0)
    parser.add_argument(
        "--set",
        choices=sorted([*SETS, *real_speech.SETS]),
        default="main",
        help="the turns to say (a real-speech set: one call of every turn)",
    )
    parser.add_argument(
        "--full", action="store_true", help="every turn and barge-in in every family (2x longer)"
    )
    parser.add_argument("--json", type=Path, help="also write every turn's result here")
    parser.add_argument("--app-log", type=Path, help="write localagent's output here at the end")
    parser.add_argument("app_args", nargs="*", help="extra localagent flags (after --)")
    args = parser.parse_args()
    print(f"CPU: {cpu_summary()}", flush=True)  # every figure names its CPU

    families = available()
    if not any(f.needs == "espeak-ng" for f in families):
        print("espeak-ng is not installed: its voice families are skipped", file=sys.stderr)
    if args.families:
        families = [families[i] for i in args.families]
    results = Results()
    started = time.monotonic()
    wall_offset = time.time() - time.monotonic()
    with ExitStack() as stack:
        fake = stack.enter_context(
            ThreadedFakeOllama(
                ttft_s=args.ttft, tokens_per_s=args.tokens_per_s, default_reply=SHORT_REPLY
            )
        )
        data = Path(tempfile.mkdtemp(prefix="localagent-turns-")) / "data"
        flags = ["--ollama-host", fake.url, "--avatar", "local", *args.app_args]
        app = stack.enter_context(run_app(*flags, env={"LOCALAGENT_DATA_DIR": str(data)}))
        if not app.url:
            raise SystemExit(f"localagent did not start:\n{app.output}")
        turn_stop = fetch_status(app.url)["turn_stop"]
        for condition in args.conditions:
            with busy_core(condition == "loaded"):
                if args.set in real_speech.SETS:
                    asyncio.run(real_speech_call(app.url, fake, args.set, condition, results))
                for index, family in enumerate([] if args.set in real_speech.SETS else families):
                    asyncio.run(
                        one_family(
                            app.url,
                            fake,
                            family,
                            index,
                            condition,
                            SETS[args.set],
                            args.full,
                            results,
                        )
                    )
                    print(
                        f"{condition}: {family.name} done ({time.monotonic() - started:.0f} s)",
                        file=sys.stderr,
                        flush=True,
                    )
        if args.app_log:
            args.app_log.write_text(app.output)
    mark_splits(results, data / "sessions.sqlite3", wall_offset)  # the app has stopped
    print(
        f"end of turn: {turn_stop}; turn set {args.set}; test LLM first token {args.ttft:.2f} s;"
        f" {time.monotonic() - started:.0f} s"
    )
    report(results, args.conditions)
    if args.json:
        args.json.write_text(json.dumps(asdict(results), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
