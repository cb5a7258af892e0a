"""Turn-taking heard in a real browser: headless Chromium speaks the corpus into the page.

Chromium's fake microphone plays one WAV made of corpus turns (real speech and synthetic
voices) with long silences between them, through the page's real getUserMedia (echo
cancellation, noise suppression and gain control on, as for a user), the pipecat JS client
and WebRTC to `python -m localagent` (local avatar, the test LLM: first token after
--ttft). In the page, WebAudio taps the microphone track and the bot's audio track every
10 ms; each turn's real end in page time is its detected onset there plus its labelled
length, so the figures are the page's own: voice-to-voice from the caller's real end of
speech to the first bot audio the page plays, and cut-ins (bot audio before it).

    python scripts/browser_turns.py [--set real real-held-out main] [--ttft 0.15]
        [--gap 5] [--json out.json] [-- extra localagent flags]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from localagent.cpu import cpu_summary
from localagent.testing import real_speech, turn_corpus
from localagent.testing.app_process import run_app
from localagent.testing.browser import launch_chromium, open_call
from localagent.testing.fake_ollama import ThreadedFakeOllama
from localagent.testing.turn_corpus import RATE, Utterance

LEAD_S = 8.0  # silence before the first turn: the greeting plays
REPLY = "Okay."
TAP_MS = 10
BOT_VOICED = 0.01  # RMS of the bot's audio (of full scale) that counts as its voice
MIC_VOICED = 0.01

TAP = f"""async () => {{
  const client = window.localagent.client;
  const bot = document.getElementById("bot-audio").srcObject;
  const mic = client.tracks().local.audio;
  const ctx = new AudioContext();
  await ctx.resume();
  const analyser = (stream) => {{
    const node = ctx.createAnalyser();
    node.fftSize = 512;
    ctx.createMediaStreamSource(stream).connect(node);
    return node;
  }};
  const a = analyser(bot), b = analyser(new MediaStream([mic]));
  const buf = new Float32Array(512);
  const rms = (node) => {{
    node.getFloatTimeDomainData(buf);
    let s = 0;
    for (const v of buf) s += v * v;
    return Math.sqrt(s / buf.length);
  }};
  window.__levels = [];
  const t0 = performance.now();
  window.__tap = setInterval(() => {{
    window.__levels.push([(performance.now() - t0) / 1000, rms(b), rms(a)]);
  }}, {TAP_MS});
  return true;
}}"""


@dataclass
class Turn:
    set: str
    kind: str
    text: str
    at: float  # where it starts in the WAV (s)
    length: float  # its first word to its last (s)
    voice_to_voice: float | None = None
    cut_in: bool = False


def schedule(sets: list[str], gap: float) -> tuple[np.ndarray, list[Turn]]:
    """The microphone's WAV (48 kHz) and where each turn is in it."""
    parts = [np.zeros(int(LEAD_S * RATE), np.int16)]
    turns: list[Turn] = []
    at = LEAD_S
    for name in sets:
        for u in _utterances(name):
            turns.append(Turn(name, u.kind, u.text, at + u.starts_at, u.ends_at - u.starts_at))
            parts += [u.pcm, np.zeros(int(gap * RATE), np.int16)]
            at += len(u.pcm) / RATE + gap
    return np.concatenate(parts), turns


def _utterances(name: str) -> list[Utterance]:
    if name in real_speech.SETS:
        return [real_speech.speak(k, p) for k, p in real_speech.SETS[name].turns]
    family = turn_corpus.available()[0]
    return [turn_corpus.speak(family, k, p) for k, p in turn_corpus.SETS[name].turns]


def score(levels: list[list[float]], turns: list[Turn], gap: float) -> None:
    """Each turn's onset in the page's microphone, then the bot's first audio after its
    real end (and any before it)."""
    t = np.array([row[0] for row in levels])
    mic = np.array([row[1] for row in levels])
    bot = np.array([row[2] for row in levels])
    if not len(t):
        return
    # the WAV's time in page time: the first turn's onset fixes the offset, and each next
    # onset is searched for near where the WAV puts it
    offset: float | None = None
    for turn in turns:
        if offset is None:
            voiced = np.flatnonzero(mic >= MIC_VOICED)
            if not len(voiced):
                return
            offset = float(t[voiced[0]]) - turn.at
        expect = turn.at + offset
        window = (t >= expect - 0.3) & (t <= expect + 0.5) & (mic >= MIC_VOICED)
        found = np.flatnonzero(window)
        onset = float(t[found[0]]) if len(found) else expect
        offset = onset - turn.at
        end = onset + turn.length
        during = (t > onset + 0.05) & (t < end) & (bot >= BOT_VOICED)
        turn.cut_in = bool(during.any())
        after = np.flatnonzero((t >= end) & (t < end + gap - 0.5) & (bot >= BOT_VOICED))
        if not turn.cut_in and len(after):
            turn.voice_to_voice = float(t[after[0]]) - end


async def call(url: str, wav: Path, seconds: float) -> list[list[float]]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await launch_chromium(pw, Path(f"{wav}%noloop"))
        try:
            page = await browser.new_page()
            await open_call(page, url)
            await page.wait_for_function(
                "document.getElementById('bot-audio').srcObject !== null", timeout=30_000
            )
            await page.evaluate(TAP)
            await asyncio.sleep(seconds)
            levels: list[list[float]] = await page.evaluate("window.__levels")
            await page.click("#connect")  # hang up
        finally:
            await browser.close()
    return levels


def _row(label: str, turns: list[Turn]) -> str:
    v2v = [x.voice_to_voice for x in turns if x.voice_to_voice is not None]
    p50 = f"{statistics.median(v2v):.2f}" if v2v else "-"
    p90 = f"{float(np.percentile(v2v, 90)):.2f}" if v2v else "-"
    unanswered = sum(x.voice_to_voice is None and not x.cut_in for x in turns)
    cut = sum(x.cut_in for x in turns)
    return f"{label:<22}{len(turns):>6}{p50:>9}{p90:>7}{cut:>5}/{len(turns):<4}{unanswered:>11}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--set",
        nargs="+",
        default=["real", "real-held-out"],
        choices=[*real_speech.SETS, *turn_corpus.SETS],
    )
    parser.add_argument("--ttft", type=float, default=0.15, help="test server first token, s")
    parser.add_argument("--gap", type=float, default=5.0, help="silence after each turn, s")
    parser.add_argument("--json", type=Path)
    parser.add_argument("app_args", nargs="*", help="extra localagent flags (after --)")
    args = parser.parse_args()
    print(f"CPU: {cpu_summary()}", flush=True)

    pcm, turns = schedule(args.set, args.gap)
    wav = Path(tempfile.mkdtemp(prefix="localagent-mic-")) / "mic.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    seconds = len(pcm) / RATE + 2.0
    data = Path(tempfile.mkdtemp(prefix="localagent-browser-")) / "data"
    with (
        ThreadedFakeOllama(ttft_s=args.ttft, default_reply=REPLY) as fake,
        run_app(
            "--ollama-host",
            fake.url,
            "--avatar",
            "local",
            *args.app_args,
            env={"LOCALAGENT_DATA_DIR": str(data)},
        ) as app,
    ):
        if not app.url:
            raise SystemExit(f"localagent did not start:\n{app.output}")
        print(f"{len(turns)} turns, {seconds:.0f} s of microphone", file=sys.stderr, flush=True)
        levels = asyncio.run(call(app.url, wav, seconds))
    score(levels, turns, args.gap)
    print(f"\n{'set':<22}{'turns':>6}{'v2v p50':>9}{'p90':>7}{'cut-in':>10}{'unanswered':>11}")
    for name in args.set:
        print(_row(name, [x for x in turns if x.set == name]))
    if len(args.set) > 1:
        print(_row("ALL", turns))
    print(f"\n{'turn':<60}{'v2v':>7}")
    for x in turns:
        v2v = "cut-in" if x.cut_in else f"{x.voice_to_voice:.2f}" if x.voice_to_voice else "-"
        print(f"{(x.set + ': ' + x.text)[:58]:<60}{v2v:>7}")
    print(
        "\nv2v: the caller's real end of speech to the first bot audio Chromium plays (s),"
        " both timed in the page; cut-in: bot audio while the caller's turn was not over;"
        " unanswered: no bot audio within the gap after the turn."
    )
    if args.json:
        args.json.write_text(json.dumps([asdict(x) for x in turns], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
