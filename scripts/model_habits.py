"""Real calls against each model family's wire habits: what the caller hears, and how soon.

Starts `python -m localagent` against the project's Ollama-compatible test server with one
profile of `localagent.testing.model_profiles` at a time (reasoning in its forms, no tools,
a small window, tool calls written as text, a model that calls tools on everything) and
calls it over real WebRTC with an aiortc caller. The model's first token comes after --ttft
(0.15 s); a thinking profile reasons for its `thinks_s` (1.5 s; gemma4 1.0 s) before that.
Per case it prints:

- v2v p50: the end of the caller's line to the first bot audio heard, median over the turns
  (the `plain` case is the baseline a thinking model should come within 0.3 s of);
- spoken s/turn: seconds of bot speech heard per turn (the answers are the same sentence
  in every case, so more is reasoning or JSON read aloud, or an apology);
- junk turns: the record's assistant turns holding reasoning or tool-call text;
- tools: the flow functions that ran; apologies: the spoken fault notices;
- max prompt, cut prompts: the longest request in tokens (as the test server counts them),
  and the requests longer than the model's window (Ollama drops their start).

A benchmark, not a test. `--cases` picks some; `--json` writes the rows. A first call,
not reported, warms the caches (the first call of a run is slower).

    python scripts/model_habits.py [--cases plain qwen3 ...] [--turns 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from localagent.cpu import cpu_summary
from localagent.store import SessionStore
from localagent.testing.app_process import fetch_status, run_app
from localagent.testing.caller import Caller
from localagent.testing.fake_ollama import Reply, ThreadedFakeOllama, ToolCall
from localagent.testing.model_profiles import PROFILES
from localagent.testing.speech import synthesize

ANSWER = "Try turning it off and on again. Does that help?"
JUNK = ("Let me think", "Okay, the user", "<think>", "{", "tool_call", "TOOL_CALLS", "```")
LINES = (
    "My printer will not print anything.",
    "The printer shows a red light.",
    "It still blinks after that.",
    "Can you tell me what else to try?",
    "I have turned it off already.",
    "The paper tray is full.",
)


@dataclass(frozen=True)
class Case:
    name: str
    profile: str
    model: str
    what: str
    server: str = "ollama"  # or "openai": the app is pointed at the server's /v1 (--llm-url)
    tools: bool = False  # the replies call the helpdesk's functions (else one sentence)
    turns: int = 0  # 0: --turns
    window: int | None = None  # a context window of this many tokens instead of the profile's


CASES = {
    c.name: c
    for c in (
        Case("plain", "llama3.2", "llama3.2:3b", "no reasoning, native tool calls"),
        Case("qwen3", "qwen3", "qwen3:4b", "delta.reasoning; honours reasoning_effort"),
        Case(
            "qwen3-vllm",
            "qwen3-vllm",
            "Qwen/Qwen3-4B",
            "reasoning_content; honours chat_template_kwargs",
            server="openai",
        ),
        Case("r1-inline", "deepseek-r1-inline", "deepseek-r1:7b", "<think> in content; ignores"),
        Case("gemma4", "gemma4", "gemma4:e4b", "answer in reasoning; honours reasoning_effort"),
        Case("gemma4-old", "gemma4-old-ollama", "gemma4:e4b", "answer in reasoning; ignores"),
        Case("gemma3", "gemma3", "gemma3:4b", "no tools (400)"),
        Case("native-tools", "llama3.2", "llama3.2:3b", "native tool calls", tools=True),
        Case("json-tools", "llama3.2-json", "llama3.2:3b", "tool calls as JSON text", tools=True),
        Case("hermes-tools", "qwen2.5-hermes", "qwen2.5:3b", "<tool_call> tags", tools=True),
        Case("fenced-tools", "phi4-mini-fenced", "phi4-mini", "```json fenced", tools=True),
        Case("eager-tools", "llama3.2-eager", "llama3.2:3b", "calls a tool every turn"),
        Case(
            "small-window",
            "llama3.2",
            "llama3.2:3b",
            "num_ctx 1024, a tool call a turn, 10 turns",
            tools=True,
            turns=10,
            window=1024,
        ),
    )
}


def _replies(case: Case, turns: int) -> list[Reply]:
    if not case.tools:
        return []
    replies = [Reply("Hello, this is the help desk. What can I do for you?")]
    for n in range(turns):
        replies += [
            Reply(tool_calls=(ToolCall("record_issue", {"summary": f"problem {n}"}),)),
            Reply(ANSWER),
        ]
    return replies


async def _run_case(case: Case, turns: int, ttft: float) -> dict[str, Any]:
    turns = case.turns or turns
    profile = PROFILES[case.profile]
    if case.window is not None:
        profile = dataclasses.replace(profile, num_ctx=case.window)
    lines = [synthesize(text) for text in (LINES * 2)[:turns]]
    row: dict[str, Any] = {"case": case.name, "habit": case.what}
    with (
        tempfile.TemporaryDirectory() as data,
        ThreadedFakeOllama(
            models=(case.model,),
            profiles={case.model: profile},
            replies=_replies(case, turns),
            default_reply=ANSWER,
            ttft_s=ttft,
        ) as ollama,
    ):
        where = (
            ["--llm-url", f"{ollama.url}/v1"]
            if case.server == "openai"
            else ["--ollama-host", ollama.url]
        )
        with run_app(*where, "--llm-model", case.model, env={"LOCALAGENT_DATA_DIR": data}) as app:
            if not app.url:
                row["call"] = f"app did not start: {app.output[-300:]}"
                return row
            status = await asyncio.to_thread(fetch_status, app.url)
            row["notes"] = status["ollama"].get("notes") or []
            caller = Caller(app.url)
            try:
                await caller.connect()
            except RuntimeError as e:
                row["call"] = f"refused: {str(e)[:90]}"
                await caller.close()
                return row
            v2v, spoken = [], []
            try:
                greeted = await caller.wait_for_voice(since=0.0, timeout=60)
                await caller.wait_for_silence(quiet_s=1.5, timeout=90)
                row["greeting s"] = round(len(caller.voiced_since(greeted)) * 0.02, 1)
                for line in lines:
                    ended = await caller.say(line)
                    first = await caller.wait_for_voice(since=ended, timeout=60)
                    v2v.append(first - ended)
                    await caller.wait_for_silence(quiet_s=2.5, timeout=90)
                    spoken.append(len(caller.voiced_since(first)) * 0.02)
            finally:
                await caller.close()
            row["call"] = "ran"
            row["turns"] = len(v2v)
            row["v2v p50"] = round(statistics.median(v2v), 2) if v2v else None
            row["spoken s/turn"] = round(statistics.mean(spoken), 1) if spoken else None
            row["trimmed"] = sum("left out" in line for line in app.lines)
        row["cut prompts"] = len(ollama.server.truncated)
        row["max prompt"] = max(ollama.server.prompt_tokens, default=0)
        row["reasoned s"] = round(sum(ollama.server.reasoned), 1)
        # the app has stopped: its recorder wrote the whole call
        return row | _from_record(SessionStore(Path(data) / "sessions.sqlite3").list())


def _from_record(records: list[Any]) -> dict[str, Any]:
    if not records:
        return {}
    record = records[0]
    said = [t["text"] for t in record.turns if t["role"] == "assistant"]
    faults = [e for e in record.events if e["kind"] == "ServiceFault"]
    return {
        "junk turns": sum(any(j in s for j in JUNK) for s in said),
        "tools": len(record.function_calls),
        "apologies": sum(bool(f.get("apology")) for f in faults),
    }


COLUMNS = (
    "case",
    "call",
    "v2v p50",
    "spoken s/turn",
    "junk turns",
    "tools",
    "apologies",
    "max prompt",
    "cut prompts",
    "trimmed",
    "reasoned s",
)


def _table(rows: list[dict[str, Any]]) -> str:
    widths = [max(len(c), *(len(str(r.get(c, "-"))) for r in rows)) for c in COLUMNS]
    out = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    for row in rows:
        cells = [str(row.get(c, "-")) for c in COLUMNS]
        out.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    return "\n".join(out)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--ttft", type=float, default=0.15)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--no-warmup", action="store_true", help="skip the first, unreported call (cold caches)"
    )
    args = parser.parse_args()
    print(cpu_summary(), flush=True)
    if not args.no_warmup:
        await _run_case(CASES["plain"], 1, args.ttft)
    rows = []
    for name in args.cases:
        row = await _run_case(CASES[name], args.turns, args.ttft)
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)
    print(_table(rows))
    for row in rows:
        for note in row.get("notes") or []:
            print(f"{row['case']}: {note}")
    if args.json:
        args.json.write_text(json.dumps([asdict(CASES[r["case"]]) | r for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(asyncio.run(main()))
