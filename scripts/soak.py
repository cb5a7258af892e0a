"""Soak: many calls through one server, then check it gave back what they took.

Starts `python -m localagent` against the project's Ollama-compatible test server and
places calls with the aiortc caller: each call waits for the greeting, says one sentence,
waits for the answer and hangs up. After a warm-up (one call, then M at once), N
sequential calls, then rounds of M concurrent calls. Before (after warm-up) and after, it
reads the server's resident memory, open file descriptors and threads from /proc (Linux)
and its asyncio tasks from /api/status, prints a table and exits non-zero if any grew past
its bound.

    python scripts/soak.py --sequential 50 --concurrent 3 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from localagent.cpu import cpu_summary
from localagent.testing.app_process import fetch_status, run_app
from localagent.testing.caller import Caller
from localagent.testing.fake_ollama import ThreadedFakeOllama
from localagent.testing.speech import synthesize

# Growth allowed after warm-up: allocator and cache noise, not one leaked call's worth.
BOUNDS = {"rss_mb": 60.0, "fds": 8, "threads": 4, "asyncio_tasks": 4}


def measure(pid: int, url: str) -> dict[str, float]:
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {
        "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(fields["Threads"]),
        "asyncio_tasks": fetch_status(url)["process"]["asyncio_tasks"],
    }


async def call(url: str, speech: Any) -> float:
    """One call; seconds from the end of the sentence to the bot's answer."""
    async with Caller(url) as caller:
        await caller.wait_for_voice(since=0.0, timeout=60)
        await caller.wait_for_silence(quiet_s=0.8, timeout=60)
        ended = await caller.say(speech)
        answered = await caller.wait_for_voice(since=ended, timeout=60)
        await caller.wait_for_silence(quiet_s=0.8, timeout=60)
        return answered - ended


async def drained(url: str) -> None:
    """Wait (up to 30 s) until the server has torn every call down."""
    for _ in range(150):
        if not fetch_status(url)["sessions"]:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # let the last connection's transports close


async def soak(url: str, pid: int, sequential: int, concurrent: int, rounds: int) -> int:
    speech = synthesize("Hello, can you help me please?")
    # Warm-up, one call alone and one round at once: the first time the server holds that
    # many calls its heap grows to fit them, and that high-water mark is not a leak.
    await call(url, speech)
    await asyncio.gather(*(call(url, speech) for _ in range(concurrent)))
    await drained(url)
    before = measure(pid, url)
    started = time.monotonic()
    answers: list[float] = []
    for i in range(sequential):
        answers.append(await call(url, speech))
        if (i + 1) % 5 == 0:
            now = measure(pid, url)
            print(
                f"{i + 1}/{sequential} sequential calls: "
                + ", ".join(f"{k} {v:.0f}" for k, v in now.items()),
                file=sys.stderr,
                flush=True,
            )
    await drained(url)
    middle = measure(pid, url)
    for r in range(rounds):
        answers += await asyncio.gather(*(call(url, speech) for _ in range(concurrent)))
        print(f"{r + 1}/{rounds} rounds of {concurrent} concurrent", file=sys.stderr, flush=True)
    await drained(url)
    after = measure(pid, url)
    minutes = (time.monotonic() - started) / 60

    calls = sequential + concurrent * rounds
    print(
        f"\n{calls} calls in {minutes:.1f} min ({sequential} sequential, then {rounds} x "
        f"{concurrent} concurrent); answer after end of speech: median "
        f"{sorted(answers)[len(answers) // 2]:.2f} s, max {max(answers):.2f} s"
    )
    print(f"{'':<16}{'before':>10}{'after seq':>11}{'after all':>11}{'growth':>9}{'bound':>8}")
    failed = False
    for key, bound in BOUNDS.items():
        growth = after[key] - before[key]
        over = growth > bound
        failed |= over
        print(
            f"{key:<16}{before[key]:>10.1f}{middle[key]:>11.1f}{after[key]:>11.1f}"
            f"{growth:>+9.1f}{bound:>8.0f}{'  OVER' if over else ''}"
        )
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sequential", type=int, default=50)
    parser.add_argument("--concurrent", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of concurrent calls")
    args = parser.parse_args()
    print(f"CPU: {cpu_summary()}", flush=True)  # every figure names its CPU
    with (
        ThreadedFakeOllama(default_reply="Sure, I can help with that.") as ollama,
        run_app("--ollama-host", ollama.url, "--max-sessions", str(max(1, args.concurrent))) as app,
    ):
        if not app.url:
            raise SystemExit(f"localagent did not start:\n{app.output}")
        return asyncio.run(
            soak(app.url, app.proc.pid, args.sequential, args.concurrent, args.rounds)
        )


if __name__ == "__main__":
    raise SystemExit(main())
