"""Voice-to-voice latency of real calls, stage by stage, against a bare pipecat baseline.

Starts `python -m localagent` and `scripts/bare_pipecat.py` (same models, no flows, observers,
avatar or TUI) against one LLM server: the project's Ollama-compatible test server with a
set time to first token and token rate, or a real Ollama with --ollama-host. An aiortc
caller speaks Piper-made utterances over real WebRTC, alternating calls between the two.

Prints, for localagent, each stage's median, p95 and max (the figures of
localagent.call.latency, read from the session record), the caller-side voice-to-voice of both
and their ratio, the first turn against the rest (cold start), and the word error rate of
the live transcripts against transcribing the same WAVs offline with the same model.

    python scripts/bench.py --turns 10 [--json out.json] [--ttft 0.15 --tokens-per-s 40]
        [--ollama-host URL --model NAME] [-- extra localagent flags]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import jiwer

from localagent.call.transcriber import Transcriber
from localagent.cpu import cpu_summary
from localagent.events import LATENCY_LABELS
from localagent.models.resolve import resolve_piper_voice, resolve_whisper_model
from localagent.settings import Settings
from localagent.stats import summarize
from localagent.store import SessionStore
from localagent.testing.app_process import fetch_status, run_app
from localagent.testing.caller import Caller
from localagent.testing.fake_ollama import ThreadedFakeOllama
from localagent.testing.speech import synthesize, write_wav

UTTERANCES = [
    "My printer will not print anything.",
    "Can you tell me how to reset my password?",
    "The wifi in the office keeps dropping.",
    "My laptop is very slow this morning.",
    "I cannot open the shared folder.",
    # Spoken with a pause in the middle (PAUSE_S of silence at the "|"): a bot that answers
    # during the pause has cut the caller off.
    "I need some help with | my email account.",
    "The screen in the meeting room | shows no picture.",
]
PAUSE_S = 1.0
STAGES = list(LATENCY_LABELS.items())
SHORT_SENTENCES = ["Thanks.", "Sure, I can help.", "Let me check that for you."]
Heard = tuple[float, float]  # (caller's end of speech, first bot audio heard), monotonic
REPLY = "Thanks. Let me look into that for you right away. Is there anything else?"


def normalize(text: str) -> str:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).strip()


def speak(text: str) -> Any:
    """PCM of an utterance; at a "|" the speaker pauses for PAUSE_S of silence in all.

    The sentence is spoken whole with a comma there and the comma's pause stretched, so the
    words before the pause keep the tone of a sentence that goes on; two halves spoken
    apart would end the first on a finished sentence's falling tone, which smart-turn hears.
    """
    import numpy as np

    if "|" not in text:
        return synthesize(text)
    pcm = synthesize(text.replace(" |", ","))
    start, end = longest_pause(pcm)
    gap = np.zeros(max(0, int(48000 * PAUSE_S) - (end - start)), dtype=np.int16)
    middle = (start + end) // 2
    return np.concatenate([pcm[:middle], gap, pcm[middle:]])


def longest_pause(pcm: Any, frame: int = 480) -> tuple[int, int]:
    """Sample range of the longest run of quiet 10 ms frames between two voiced ones."""
    import numpy as np

    frames = pcm[: len(pcm) // frame * frame].astype(np.float32).reshape(-1, frame)
    voiced = np.flatnonzero(np.sqrt(np.mean(frames**2, axis=1)) >= 0.01 * 32768)
    gaps = np.diff(voiced)
    i = int(np.argmax(gaps))
    return (int(voiced[i]) + 1) * frame, int(voiced[i + 1]) * frame


async def one_call(url: str, speech: list[Any], turns: list[int]) -> tuple[list[Heard], int]:
    """Speak the given utterances in one call: when the caller stopped and first heard the bot
    in each turn the bot let finish, and how many times it started talking before the caller
    had finished."""
    heard: list[Heard] = []
    cut_ins = 0
    async with Caller(url) as caller:
        await caller.wait_for_voice(since=0.0, timeout=120)  # the greeting
        await caller.wait_for_silence(quiet_s=1.0, timeout=120)
        for i in turns:
            started = time.monotonic()
            ended = await caller.say(speech[i % len(speech)])
            if any(a.at < ended for a in caller.voiced_since(started + 0.1)):
                cut_ins += 1
                # The caller talked over the bot to the end of the sentence; let the bot
                # answer that rest too, so its words count in the transcript and its
                # answer does not land on the next utterance.
                with contextlib.suppress(TimeoutError):
                    await caller.wait_for_voice(since=ended + 0.02, timeout=6)
            else:
                first = await caller.wait_for_voice(since=ended + 0.02, timeout=120)
                heard.append((ended, first))
            await caller.wait_for_silence(quiet_s=1.0, timeout=120)
    return heard, cut_ins


def split_at_llm(heard: list[Heard], requests: list[float]) -> tuple[list[float], list[float]]:
    """Each turn cut at the LLM request it caused: the caller's end of speech to the request,
    and the request to the caller hearing the bot. Times the bare pipeline without adding
    anything to it, since the test server and the caller share this process's clock."""
    before, after = [], []
    for ended, first in heard:
        asked = [t for t in requests if ended < t < first]
        if asked:
            before.append(asked[0] - ended)
            after.append(first - asked[0])
    return before, after


@contextlib.contextmanager
def cpu_used(pid: int, total: list[float]) -> Iterator[None]:
    """Add the CPU seconds the server `pid` and this process (the caller) spend inside."""

    def server() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def caller() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    before = server(), caller()
    yield
    total[0] += server() - before[0]
    total[1] += caller() - before[1]


def offline_transcripts(
    wavs: list[Path], whisper: str, window_s: float
) -> tuple[list[str], list[float], list[float]]:
    """Each WAV transcribed from the file by faster-whisper itself (its 30 s window), and
    the seconds that took per second of speech; then the seconds per second of speech of
    localagent's decoding (`localagent.call.transcriber`) over the window the calls used."""
    from faster_whisper import WhisperModel
    from faster_whisper.audio import decode_audio

    settings = Settings()
    ref = resolve_whisper_model(whisper, settings.models_dir)
    model = WhisperModel(str(ref.path), device="cpu", compute_type="int8")
    ours = Transcriber(model, beam_size=settings.whisper_beam_size, window_s=window_s)
    texts: list[str] = []
    full: list[float] = []
    short: list[float] = []
    for wav in wavs:
        audio = decode_audio(str(wav), sampling_rate=16000)
        seconds = len(audio) / 16000
        t0 = time.perf_counter()
        segments = model.transcribe(audio, language="en", beam_size=settings.whisper_beam_size)
        texts.append(" ".join(s.text for s in segments[0]).strip())
        full.append((time.perf_counter() - t0) / seconds)
        t0 = time.perf_counter()
        ours.transcribe(audio, language="en")
        short.append((time.perf_counter() - t0) / seconds)
    return texts, full, short


def tts_first_audio(sentences: list[str], repeats: int = 3) -> list[float]:
    """Piper's time to the first audio chunk of short sentences, as the pipeline asks."""
    from piper import PiperVoice

    voice = PiperVoice.load(
        str(resolve_piper_voice("en_US-joe-medium", Settings().models_dir).path)
    )
    next(iter(voice.synthesize("Warm up.")))
    times = []
    for _ in range(repeats):
        for sentence in sentences:
            t0 = time.perf_counter()
            next(iter(voice.synthesize(sentence)))
            times.append(time.perf_counter() - t0)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--per-call", type=int, default=5, help="turns per call")
    parser.add_argument("--ollama-host", help="a real Ollama; default: the test server")
    parser.add_argument("--model", default="llama3.2:3b")
    parser.add_argument("--ttft", type=float, default=0.15, help="test server first token, s")
    parser.add_argument("--tokens-per-s", type=float, default=40.0, help="test server rate")
    parser.add_argument("--whisper-model", default="tiny.en")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("app_args", nargs="*", help="extra flags for both servers (after --)")
    args = parser.parse_args()
    print(f"CPU: {cpu_summary()}", flush=True)  # every figure names its CPU

    work = Path(tempfile.mkdtemp(prefix="localagent-bench-"))
    speech = [speak(u) for u in UTTERANCES]
    wavs = [write_wav(work / f"u{i}.wav", s) for i, s in enumerate(speech)]
    turns = list(range(args.turns))
    blocks = [turns[i : i + args.per_call] for i in range(0, len(turns), args.per_call)]

    fake: ThreadedFakeOllama | None = None
    with ExitStack() as stack:
        if args.ollama_host:
            llm_url, llm = args.ollama_host, f"Ollama {args.model} at {args.ollama_host}"
        else:
            # Every reply is the same sentence, so both servers speak the same amount.
            fake = ThreadedFakeOllama(
                models=(args.model,),
                ttft_s=args.ttft,
                tokens_per_s=args.tokens_per_s,
                default_reply=REPLY,
            )
            stack.enter_context(fake)
            llm_url = fake.url
            llm = f"test server (first token {args.ttft:.2f} s, {args.tokens_per_s:.0f} tok/s)"
        flags = ["--ollama-host", llm_url, "--llm-model", args.model, *args.app_args]
        data = work / "data"
        app = stack.enter_context(run_app(*flags, env={"LOCALAGENT_DATA_DIR": str(data)}))
        bare = stack.enter_context(_run_bare(*flags))
        for proc in (app, bare):
            if not proc.url:
                raise SystemExit(f"a server did not start:\n{proc.output}")
        turn_stop = fetch_status(app.url)["turn_stop"]
        ours_heard: list[Heard] = []
        base_heard: list[Heard] = []
        cut_ins = base_cut_ins = 0
        # CPU seconds the calls cost: [server, caller (this process)], per side.
        cpu = {"localagent": [0.0, 0.0], "bare": [0.0, 0.0]}
        for block in blocks:  # alternate whole calls so neither side warms the other
            with cpu_used(app.proc.pid, cpu["localagent"]):
                heard_, cuts = asyncio.run(one_call(app.url, speech, block))
            ours_heard, cut_ins = ours_heard + heard_, cut_ins + cuts
            with cpu_used(bare.proc.pid, cpu["bare"]):
                heard_, cuts = asyncio.run(one_call(bare.url, speech, block))
            base_heard, base_cut_ins = base_heard + heard_, base_cut_ins + cuts
            print(f"{block[-1] + 1}/{args.turns} turns", file=sys.stderr, flush=True)
        requests = list(fake.server.request_times) if fake else []
        whisper = fetch_status(app.url)["whisper"]
    ours = [first - ended for ended, first in ours_heard]
    base = [first - ended for ended, first in base_heard]

    sessions = SessionStore(data / "sessions.sqlite3").list()
    latency = [
        e
        for s in reversed(sessions)
        for e in s.events
        if e["kind"] == "TurnLatency" and not e["first_turn"]
    ]
    heard = " ".join(t["text"] for s in reversed(sessions) for t in s.turns if t["role"] == "user")
    said = " ".join(UTTERANCES[i % len(UTTERANCES)].replace("|", "") for i in turns)
    offline, stt_per_second, stt_short = offline_transcripts(
        wavs, args.whisper_model, whisper["window_s"]
    )
    tts_first = tts_first_audio(SHORT_SENTENCES)
    offline_said = " ".join(offline[i % len(offline)] for i in turns)
    wer_live = jiwer.wer(normalize(said), normalize(heard))
    wer_offline = jiwer.wer(normalize(said), normalize(offline_said))

    rows = {key: summarize([e[key] for e in latency]) for key, _ in STAGES}
    rows["caller_v2v"] = summarize(ours)
    rows["bare_caller_v2v"] = summarize(base)
    ratio = rows["caller_v2v"]["median"] / rows["bare_caller_v2v"]["median"]
    extra_ms = (rows["caller_v2v"]["median"] - rows["bare_caller_v2v"]["median"]) * 1000
    cold = ours[0] / summarize(ours[1:])["median"] if len(ours) > 1 else float("nan")

    print(f"\nlocalagent, {len(ours)} turns, {os.cpu_count()} CPUs, LLM: {llm}")
    print(f"end of turn: {turn_stop}")
    print(f"{'stage (seconds)':<38}{'median':>8}{'p95':>8}{'max':>8}")
    labels = dict(STAGES) | {
        "caller_v2v": "voice-to-voice (caller)",
        "bare_caller_v2v": "bare pipecat voice-to-voice (caller)",
    }
    for key, label in labels.items():
        r = rows[key]
        print(f"{label:<38}{r['median']:>8.3f}{r['p95']:>8.3f}{r['max']:>8.3f}")
    print(f"overhead ratio (median, caller): {ratio:.3f} ({extra_ms:+.0f} ms)")
    split: dict[str, Any] = {}
    if requests:
        split = {
            "localagent": split_at_llm(ours_heard, requests),
            "bare": split_at_llm(base_heard, requests),
        }
        print(f"{'caller v2v cut at the LLM request':<38}{'ours':>8}{'bare':>8}{'diff ms':>9}")
        for i, label in enumerate(("end of speech to LLM request", "LLM request to bot heard")):
            a = summarize(split["localagent"][i])["median"]
            b = summarize(split["bare"][i])["median"]
            print(f"{label:<38}{a:>8.3f}{b:>8.3f}{(a - b) * 1000:>+9.0f}")
    print(
        "CPU seconds per turn, server + caller: "
        + "; ".join(
            f"{side} {server / len(turns):.2f} + {caller / len(turns):.2f}"
            for side, (server, caller) in cpu.items()
        )
        + " (the caller decodes the avatar's video; the bare bot sends none)"
    )
    print(f"first turn / later turns (cold start): {cold:.2f}")
    paused = sum("|" in UTTERANCES[i % len(UTTERANCES)] for i in turns)
    print(
        f"cut the caller off: {cut_ins} of {len(turns)} turns ({paused} with a "
        f"{PAUSE_S:.1f} s pause mid-sentence); bare pipecat: {base_cut_ins}"
    )
    print(
        f"word error rate: live {wer_live:.1%}, offline {wer_offline:.1%} "
        f"(the same WAVs through faster-whisper {args.whisper_model})"
    )
    stt_row, tts_row = summarize(stt_per_second), summarize(tts_first)
    short_row = summarize(stt_short)
    print(
        f"whisper {args.whisper_model} alone, s per second of speech (median, max): "
        f"{stt_row['median']:.3f}, {stt_row['max']:.3f} over 30 s; {short_row['median']:.3f}, "
        f"{short_row['max']:.3f} localagent's way ({whisper['window_s']:g} s window)"
    )
    print(
        f"whisper in localagent's calls: {whisper['short_decodes']} utterances over the "
        f"{whisper['window_s']:g} s window, {whisper['fallbacks']} of them decoded again over 30 s"
    )
    print(
        "Piper first audio of a short sentence: "
        f"{tts_row['median'] * 1000:.0f} ms (median, max {tts_row['max'] * 1000:.0f})"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "llm": llm,
                    "turn_stop": turn_stop,
                    "turns": len(ours),
                    "stages": rows,
                    "caller_turns": ours,
                    "bare_caller_turns": base,
                    "overhead_ratio": ratio,
                    "overhead_ms": extra_ms,
                    "cold_start_ratio": cold,
                    "wer_live": wer_live,
                    "wer_offline": wer_offline,
                    "cut_ins": cut_ins,
                    "stt_s_per_speech_s": stt_row,
                    "stt_s_per_speech_s_localagent": short_row,
                    "whisper_in_calls": whisper,
                    "tts_first_audio_s": tts_row,
                    "bare_cut_ins": base_cut_ins,
                    "split_at_llm_request": split,
                    "cpu_s_server_caller": cpu,
                    "heard": heard,
                },
                indent=2,
            )
        )
    return 0


def _run_bare(*flags: str) -> Any:
    """The bare baseline, as a subprocess with the same helper as localagent."""
    return run_app(*flags, entry=[str(Path(__file__).with_name("bare_pipecat.py"))])


if __name__ == "__main__":
    raise SystemExit(main())
