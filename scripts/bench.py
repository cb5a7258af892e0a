"""Voice-to-voice latency of real calls, stage by stage, against a bare pipecat baseline.

Starts `python -m localagent` and `scripts/bare_pipecat.py` (same models, no flows, observers,
avatar or TUI) against one LLM server: the project's Ollama-compatible test server with a
set time to first token and token rate, or a real Ollama with --ollama-host. An aiortc
caller speaks Piper-made utterances over real WebRTC, alternating calls between the two.

Prints, for localagent, each stage's median, p95 and max (the figures of
localagent.latency, read from the session record), the caller-side voice-to-voice of both
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
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import jiwer

from localagent.latency import summarize
from localagent.models import resolve_piper_voice, resolve_whisper_model
from localagent.settings import Settings
from localagent.store import SessionStore
from localagent.testing.app_process import run_app
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
PAUSE_S = 0.7
STAGES = [
    ("vad_wait", "VAD stop wait"),
    ("stt", "STT (to final transcript)"),
    ("turn_wait", "end-of-turn wait"),
    ("llm", "LLM first token"),
    ("tools", "tools"),
    ("tts", "TTS first audio"),
    ("avatar", "avatar to output"),
    ("voice_to_voice", "voice-to-voice (server)"),
]
SHORT_SENTENCES = ["Thanks.", "Sure, I can help.", "Let me check that for you."]
REPLY = "Thanks. Let me look into that for you right away. Is there anything else?"


def normalize(text: str) -> str:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).strip()


def speak(text: str) -> Any:
    """PCM of an utterance; a "|" becomes PAUSE_S of silence."""
    import numpy as np

    parts = [synthesize(p.strip()) for p in text.split("|")]
    gap = np.zeros(int(48000 * PAUSE_S), dtype=np.int16)
    out = parts[0]
    for part in parts[1:]:
        out = np.concatenate([out, gap, part])
    return out


async def one_call(url: str, speech: list[Any], turns: list[int]) -> tuple[list[float], int]:
    """Speak the given utterances in one call: caller-side latency of each turn the bot
    let finish, and how many times it started talking before the caller had finished."""
    latencies, cut_ins = [], 0
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
                latencies.append(first - ended)
            await caller.wait_for_silence(quiet_s=1.0, timeout=120)
    return latencies, cut_ins


def offline_transcripts(wavs: list[Path], whisper: str) -> tuple[list[str], list[float]]:
    """Each WAV transcribed from the file, and the seconds it took per second of speech."""
    from faster_whisper import WhisperModel
    from faster_whisper.audio import decode_audio

    ref = resolve_whisper_model(whisper, Settings().models_dir)
    model = WhisperModel(str(ref.path), device="cpu", compute_type="int8")
    texts, per_second = [], []
    for wav in wavs:
        audio = decode_audio(str(wav), sampling_rate=16000)
        t0 = time.perf_counter()
        segments = model.transcribe(audio, language="en", beam_size=Settings().whisper_beam_size)[0]
        texts.append(" ".join(s.text for s in segments).strip())
        per_second.append((time.perf_counter() - t0) / (len(audio) / 16000))
    return texts, per_second


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

    work = Path(tempfile.mkdtemp(prefix="localagent-bench-"))
    speech = [speak(u) for u in UTTERANCES]
    wavs = [write_wav(work / f"u{i}.wav", s) for i, s in enumerate(speech)]
    turns = list(range(args.turns))
    blocks = [turns[i : i + args.per_call] for i in range(0, len(turns), args.per_call)]

    with ExitStack() as stack:
        if args.ollama_host:
            llm_url, llm = args.ollama_host, f"Ollama {args.model} at {args.ollama_host}"
        else:
            # Every reply is the same sentence, so both servers speak the same amount.
            fake = stack.enter_context(
                ThreadedFakeOllama(
                    models=(args.model,),
                    ttft_s=args.ttft,
                    tokens_per_s=args.tokens_per_s,
                    default_reply=REPLY,
                )
            )
            llm_url = fake.url
            llm = f"test server (first token {args.ttft:.2f} s, {args.tokens_per_s:.0f} tok/s)"
        flags = ["--ollama-host", llm_url, "--llm-model", args.model, *args.app_args]
        data = work / "data"
        app = stack.enter_context(run_app(*flags, env={"LOCALAGENT_DATA_DIR": str(data)}))
        bare = stack.enter_context(_run_bare(*flags))
        for proc in (app, bare):
            if not proc.url:
                raise SystemExit(f"a server did not start:\n{proc.output}")
        with urllib.request.urlopen(app.url.rstrip("/") + "/api/status", timeout=10) as r:
            turn_stop = json.load(r)["turn_stop"]
        ours: list[float] = []
        base: list[float] = []
        cut_ins = base_cut_ins = 0
        for block in blocks:  # alternate whole calls so neither side warms the other
            latencies, cuts = asyncio.run(one_call(app.url, speech, block))
            ours, cut_ins = ours + latencies, cut_ins + cuts
            latencies, cuts = asyncio.run(one_call(bare.url, speech, block))
            base, base_cut_ins = base + latencies, base_cut_ins + cuts
            print(f"{block[-1] + 1}/{args.turns} turns", file=sys.stderr, flush=True)

    sessions = SessionStore(data / "sessions.sqlite3").list()
    latency = [
        e
        for s in reversed(sessions)
        for e in s.events
        if e["kind"] == "TurnLatency" and not e["first_turn"]
    ]
    heard = " ".join(t["text"] for s in reversed(sessions) for t in s.turns if t["role"] == "user")
    said = " ".join(UTTERANCES[i % len(UTTERANCES)].replace("|", "") for i in turns)
    offline, stt_per_second = offline_transcripts(wavs, args.whisper_model)
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
    print(f"first turn / later turns (cold start): {cold:.2f}")
    paused = sum("|" in UTTERANCES[i % len(UTTERANCES)] for i in turns)
    print(
        f"cut the caller off: {cut_ins} of {len(turns)} turns ({paused} with a "
        f"{PAUSE_S:.1f} s pause mid-sentence); bare pipecat: {base_cut_ins}"
    )
    print(
        f"word error rate: live {wer_live:.1%}, offline {wer_offline:.1%} "
        f"(whisper {args.whisper_model})"
    )
    stt_row, tts_row = summarize(stt_per_second), summarize(tts_first)
    print(
        f"whisper {args.whisper_model} alone: {stt_row['median']:.3f} s per second of speech "
        f"(median, max {stt_row['max']:.3f}); Piper first audio of a short sentence: "
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
                    "tts_first_audio_s": tts_row,
                    "bare_cut_ins": base_cut_ins,
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
