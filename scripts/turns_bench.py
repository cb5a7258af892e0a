"""Turn-taking on voices the project was not tuned on: latency, cut-ins, split turns, barge-in.

Starts `python -m localagent` against the project's Ollama-compatible test server (first token
after --ttft, 0.15 s by default) and calls it over real WebRTC with an aiortc caller that
speaks the turns of `localagent.testing.turn_corpus` in each voice family: one call per
family, quiet and then with one core kept busy by another process (--conditions). Each turn
is labelled with where it really ends, so the benchmark can tell:

- voice-to-voice at the caller: the real end of the caller's last word to the first bot
  audio heard (turns the bot let finish);
- false cut-ins: bot audio heard before the caller's turn was over (in one of its pauses);
- split turns: the LLM asked before the caller's turn was over (of the turns with a pause);
- backchannels: "yeah", "mm-hm", "okay" said 1.2 s into a long answer; did the bot stop?
- interruptions: "Wait, I have a different question." at the same point; how long from the
  caller starting to speak to the bot falling silent (at the caller)?

A benchmark, not a test: it prints a table (per family and condition, then overall) and can
write JSON. About 4 minutes per condition on a 2-core machine.

    python scripts/turns_bench.py [--conditions quiet loaded] [--families N ...]
        [--ttft 0.15] [--json out.json] [-- extra localagent flags]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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

from localagent.testing.app_process import fetch_status, run_app
from localagent.testing.caller import Caller
from localagent.testing.fake_ollama import ThreadedFakeOllama
from localagent.testing.turn_corpus import (
    BACKCHANNELS,
    INTERRUPTIONS,
    RATE,
    TURNS,
    Family,
    Utterance,
    available,
    speak,
)

SHORT_REPLY = "Okay, noted."
LONG_REPLY = (
    "We open at nine in the morning on weekdays and at ten on Saturdays. "
    "On Sundays we are closed, except in December, when we open at noon. "
    "Public holidays follow the Sunday hours. Is there anything else I can help with?"
)
ASK_LONG = "Tell me all of your opening hours, please."
SILENT_RUN_S = 0.5  # this long without bot audio: the bot has stopped talking
VOICED = 0.01  # RMS (of full scale) of bot audio that counts as speech


@dataclass
class TurnResult:
    family: str
    condition: str
    kind: str
    text: str
    voice_to_voice: float | None = None  # s, when the bot let the caller finish
    cut_in: bool = False
    split: bool = False
    multi: bool = False  # the turn has pauses inside it


@dataclass
class BargeResult:
    family: str
    condition: str
    kind: str  # "backchannel" | "interruption"
    text: str
    talking: bool = False  # the bot was speaking when the caller began (else not counted)
    stopped: bool = False
    silenced_after: float | None = None  # s from the caller's first sound to the bot's silence


@dataclass
class Results:
    turns: list[TurnResult] = field(default_factory=list)
    barge_ins: list[BargeResult] = field(default_factory=list)


def _silent_from(caller: Caller, since: float, until: float) -> float | None:
    """Start of the first run of SILENT_RUN_S without bot speech in [since, until]."""
    frames = [a for a in caller.audio if since <= a.at <= until]
    run_start: float | None = None
    for a in frames:
        if a.rms >= VOICED:
            run_start = None
        elif run_start is None:
            run_start = a.at
        elif a.at - run_start >= SILENT_RUN_S:
            return run_start
    return None


async def _settle(caller: Caller) -> None:
    with suppress(TimeoutError):
        await caller.wait_for_silence(quiet_s=0.8, timeout=30)


async def _turn(caller: Caller, fake: ThreadedFakeOllama, u: Utterance, out: TurnResult) -> None:
    started = time.monotonic()
    asked_before = len(fake.server.request_times)
    ended = await caller.say(u.pcm)
    real_end = ended - len(u.pcm) / RATE + u.ends_at
    requests = fake.server.request_times[asked_before:]
    out.split = any(t < real_end - 0.05 for t in requests)
    out.cut_in = any(a.at < real_end for a in caller.voiced_since(started + 0.05, VOICED))
    if not out.cut_in:
        try:
            first = await caller.wait_for_voice(since=real_end, timeout=8, threshold=VOICED)
            out.voice_to_voice = first - real_end
        except TimeoutError:
            pass  # no answer at all: counted as neither
    await _settle(caller)


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
    ended = await caller.say(u.pcm)
    sound_at = ended - len(u.pcm) / RATE
    out.talking = any(
        sound_at - 0.3 <= a.at <= sound_at for a in caller.voiced_since(first, VOICED)
    )
    await asyncio.sleep(2.0)
    silent = _silent_from(caller, sound_at, sound_at + 2.0)
    out.stopped = silent is not None
    out.silenced_after = (silent - sound_at) if silent is not None else None
    await _settle(caller)


async def one_family(
    url: str, fake: ThreadedFakeOllama, family: Family, condition: str, results: Results
) -> None:
    turns = [speak(family, kind, pieces) for kind, pieces in TURNS]
    ask = speak(family, "question", [ASK_LONG]).pcm
    barges = [speak(family, "backchannel", [t]) for t in BACKCHANNELS]
    barges += [speak(family, "interruption", [t]) for t in INTERRUPTIONS]
    async with Caller(url) as caller:
        await caller.wait_for_voice(since=0.0, timeout=120)  # the greeting
        await _settle(caller)
        for u in turns:
            result = TurnResult(family.name, condition, u.kind, u.text, multi=bool(u.pauses))
            await _turn(caller, fake, u, result)
            results.turns.append(result)
        for u in barges:
            barge = BargeResult(family.name, condition, u.kind, u.text)
            await _barge(caller, fake, ask, u, barge)
            if barge.talking:
                results.barge_ins.append(barge)


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
        f"{sum(b.stopped for b in backchannels):>5}/{len(backchannels):<3}"
        f"{_median(silenced):>9} ({sum(b.stopped for b in interrupts)}/{len(interrupts)})"
    )


def report(results: Results, conditions: list[str]) -> None:
    print(
        f"\n{'voice family / condition':<34}{'turns':>5}{'v2v p50':>8}{'p90':>7}"
        f"{'cut-in':>8}{'split':>9}{'bc stop':>9}{'silenced':>11}"
    )
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
    kinds = list(dict.fromkeys(t.kind for t in results.turns))
    print(f"\n{'turn kind':<34}{'turns':>5}{'v2v p50':>8}{'p90':>7}{'cut-in':>8}{'split':>9}")
    for kind in kinds:
        print(_row(kind, [t for t in results.turns if t.kind == kind], [])[:68])
    print(
        "\nv2v: the caller's real end of speech to the first bot audio heard (s); cut-in: bot"
        " audio before the turn was over; split: the LLM asked before the turn was over (of"
        " turns with pauses); bc stop: backchannels that stopped the bot; silenced: caller's"
        " first sound to bot silence for real interruptions (median s, stopped/tried)."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--conditions", nargs="+", default=["quiet", "loaded"])
    parser.add_argument("--families", type=int, nargs="*", help="indexes of the families to run")
    parser.add_argument("--ttft", type=float, default=0.15, help="test server first token, s")
    parser.add_argument("--tokens-per-s", type=float, default=40.0)
    parser.add_argument("--json", type=Path, help="also write every turn's result here")
    parser.add_argument("app_args", nargs="*", help="extra localagent flags (after --)")
    args = parser.parse_args()

    families = available()
    if args.families:
        families = [families[i] for i in args.families]
    skipped = {"espeak-ng"} - {f.needs for f in families if f.needs}
    if skipped:
        print("espeak-ng is not installed: its voice families are skipped", file=sys.stderr)
    results = Results()
    started = time.monotonic()
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
                for family in families:
                    asyncio.run(one_family(app.url, fake, family, condition, results))
                    print(
                        f"{condition}: {family.name} done ({time.monotonic() - started:.0f} s)",
                        file=sys.stderr,
                        flush=True,
                    )
    print(f"end of turn: {turn_stop}; test LLM first token {args.ttft:.2f} s")
    report(results, args.conditions)
    if args.json:
        args.json.write_text(json.dumps(asdict(results), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
