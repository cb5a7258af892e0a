"""The wire habits of real model families, for the Ollama-compatible test server.

Each profile reproduces what one family is documented (or reported) to send through a
server, so tests meet the manners of the models people actually pull, not only the
project's hopes. Sources, for each habit:
- `delta.reasoning` with empty `content` first, on Ollama's OpenAI endpoint (qwen3,
  deepseek-r1), and `reasoning_effort: "none"` honoured there: ollama#14820 and PR #14821
  ("none" turns thinking off; the native `think` field is ignored on /v1).
- `reasoning_content` in the delta: vLLM's reasoning outputs (`--reasoning-parser`), also
  llama.cpp's server with `--reasoning-format deepseek`; both read
  `chat_template_kwargs: {"enable_thinking": false}` (docker/model-runner#1028).
- inline `<think>...</think>` in `content`: Ollama before 0.9 (thinking separated natively
  since then) and servers without a reasoning parser.
- the whole answer in `reasoning`, `content` empty: gemma4 on Ollama's /v1 (ollama#15288).
- no tools: HTTP 400 `{"error": {"message": "registry.ollama.ai/library/gemma3:4b does not
  support tools", "type": "api_error", ...}}` and no "tools" in `/api/show`'s capabilities
  (reported in FoundationAgents/OpenManus#617, louisho5/picobot#6, ollama#13578).
- the context window: `/api/show` `model_info["<arch>.context_length"]` (trained) and
  `parameters` (`num_ctx`); `/api/ps` `context_length` as loaded (ollama PR #11331);
  4096 by default below 24 GiB of VRAM, a longer prompt cut from its start silently
  ("truncating input prompt", ollama#9221).
- tool calls as text: bare JSON `{"name": ..., "parameters": ...}` (Llama 3.x's JSON tool
  format; CatchTheTornado/open-agents-builder#113, pipecat#1977), fenced in ```json
  (agno-agi/agno#238), Hermes `<tool_call>` tags (Qwen2.5's template; jundot/omlx#2565),
  Mistral's `[TOOL_CALLS]` prefix.
- a model that calls a tool on everything: llama3.2:3b in a 2026 CPU benchmark of small
  models' tool use (field notes), and pipecat#1971.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PROFILES", "ModelProfile"]

Reasoning = Literal["none", "reasoning", "reasoning_content", "inline", "answer_in_reasoning"]
ToolStyle = Literal["native", "json", "fenced", "hermes", "mistral"]
OffSwitch = Literal["reasoning_effort", "chat_template_kwargs", "no_think"]

REASONING_TEXT = (
    "Okay, the user said something. Let me think about what they want. They might be "
    "describing a problem, so I should answer briefly and kindly, in one or two sentences, "
    "and ask whether that helps. Let me make sure I do not use lists or markdown."
)


@dataclass(frozen=True)
class ModelProfile:
    family: str
    reasoning: Reasoning = "none"
    thinks_s: float = 0.0  # how long the reasoning streams before the answer
    off_switches: tuple[OffSwitch, ...] = ()  # the requests that turn its thinking off
    tools: bool = True  # whether it takes `tools` (else 400, as Ollama answers)
    tool_style: ToolStyle = "native"  # how its tool calls arrive
    calls_tools_always: bool = False  # a tool call for every caller turn, wanted or not
    trained_context: int = 131072
    num_ctx: int | None = None  # the window it runs with (None: Ollama's default, 4096)

    @property
    def thinks(self) -> bool:
        return self.reasoning != "none"

    @property
    def window(self) -> int:
        return min(self.num_ctx or 4096, self.trained_context)


PROFILES: dict[str, ModelProfile] = {
    # the project's long-time default: native tool calls, no reasoning
    "llama3.2": ModelProfile("llama"),
    "llama3.2-eager": ModelProfile("llama", calls_tools_always=True),
    "llama3.2-json": ModelProfile("llama", tool_style="json"),
    "qwen3": ModelProfile(
        "qwen3", reasoning="reasoning", thinks_s=1.5, off_switches=("reasoning_effort",)
    ),
    "qwen3-vllm": ModelProfile(
        "qwen3",
        reasoning="reasoning_content",
        thinks_s=1.5,
        off_switches=("chat_template_kwargs", "no_think"),
    ),
    "deepseek-r1-inline": ModelProfile("qwen2", reasoning="inline", thinks_s=1.5),
    "gemma4": ModelProfile(
        "gemma4", reasoning="answer_in_reasoning", thinks_s=1.0, off_switches=("reasoning_effort",)
    ),
    "gemma4-old-ollama": ModelProfile("gemma4", reasoning="answer_in_reasoning", thinks_s=1.0),
    "gemma3": ModelProfile("gemma3", tools=False, trained_context=32768),
    "qwen2.5-hermes": ModelProfile("qwen2", tool_style="hermes"),
    "phi4-mini-fenced": ModelProfile("phi3", tool_style="fenced"),
    "mistral-text": ModelProfile("llama", tool_style="mistral"),
    "llama3.2-2k": ModelProfile("llama", num_ctx=2048),
}
