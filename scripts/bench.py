"""Caller-side voice-to-voice latency of a real localagent call.

Starts `python -m localagent` against the project's Ollama-compatible test server (or a
real Ollama with --ollama-host), calls it over WebRTC with an aiortc caller that speaks
Piper-made utterances, and measures, per turn, the time from the last voiced sample the
caller sent to the first voiced bot audio it received. Prints median, p95 and max.

    python scripts/bench.py --turns 10 [--json out.json] [--ollama-host URL --model NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path

from localagent.testing.app_process import run_app
from localagent.testing.caller import Caller
from localagent.testing.fake_ollama import ThreadedFakeOllama
from localagent.testing.speech import synthesize

UTTERANCES = [
    "My printer will not print anything.",
    "Can you tell me how to reset my password?",
    "The wifi in the office keeps dropping.",
    "My laptop is very slow this morning.",
    "I cannot open the shared folder.",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


async def call(url: str, turns: int) -> list[float]:
    speech = [synthesize(u) for u in UTTERANCES]
    latencies: list[float] = []
    async with Caller(url) as caller:
        await caller.wait_for_voice(since=0.0, timeout=120)  # the greeting
        await caller.wait_for_silence(quiet_s=1.0, timeout=120)
        for i in range(turns):
            ended = await caller.say(speech[i % len(speech)])
            first = await caller.wait_for_voice(since=ended + 0.02, timeout=120)
            latencies.append(first - ended)
            print(f"turn {i + 1:2d}: {first - ended:.3f}s", file=sys.stderr, flush=True)
            await caller.wait_for_silence(quiet_s=1.0, timeout=120)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--ollama-host", help="a real Ollama; default: the test server")
    parser.add_argument("--model", default="llama3.2:3b")
    parser.add_argument("--ttft", type=float, default=0.0, help="test server time to 1st token")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("app_args", nargs="*", help="extra flags for localagent (after --)")
    args = parser.parse_args()

    def run(ollama_host: str) -> list[float]:
        flags = ["--ollama-host", ollama_host, "--llm-model", args.model, *args.app_args]
        with run_app(*flags) as app:
            if not app.url:
                raise SystemExit(f"localagent did not start:\n{app.output}")
            return asyncio.run(call(app.url, args.turns))

    if args.ollama_host:
        latencies, llm = run(args.ollama_host), f"Ollama {args.model}"
    else:
        with ThreadedFakeOllama(models=(args.model,), ttft_s=args.ttft) as fake:
            latencies, llm = run(fake.url), f"test server (ttft {args.ttft:.2f}s)"

    rows = {
        "median": statistics.median(latencies),
        "p95": percentile(latencies, 0.95),
        "max": max(latencies),
    }
    print(f"\nvoice-to-voice, caller side, {len(latencies)} turns, LLM: {llm}")
    print(f"{'stat':<8}{'seconds':>9}")
    for name, value in rows.items():
        print(f"{name:<8}{value:>9.3f}")
    if args.json:
        args.json.write_text(json.dumps({"llm": llm, "turns": latencies, **rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
