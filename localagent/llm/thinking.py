"""What to send so a thinking model answers without thinking first, server by server.

On a voice call every second of reasoning is a second of silence, so thinking is off
unless the user asks for it (`llm_thinking`). Each server honours its own switch:
- Ollama's OpenAI endpoint: `reasoning_effort: "none"` (ollama#14820, #14821); the
  native API's `think: false` is ignored there. gpt-oss cannot stop thinking, only think
  less: "low" (ollama#11752).
- vLLM and llama.cpp's server: `chat_template_kwargs: {"enable_thinking": false}`, read
  by Qwen3's and Gemma's chat templates (vLLM's reasoning-outputs docs; llama.cpp's
  server README).
- Qwen3's soft switch `/no_think` in the system message, for any server that honours
  neither (Qwen3's model card).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from localagent.llm.capabilities import ModelCapabilities

__all__ = ["NO_THINK", "ThinkingRequest", "thinking_request"]

NO_THINK = "/no_think"


@dataclass(frozen=True)
class ThinkingRequest:
    fields: dict[str, Any] = field(default_factory=dict)  # top-level request fields
    extra_body: dict[str, Any] = field(default_factory=dict)  # server-specific fields
    system_suffix: str = ""  # appended to the system message


def thinking_request(
    *,
    model: str,
    ollama: bool,
    capabilities: ModelCapabilities | None,
    thinking: bool,
) -> ThinkingRequest:
    """The request's additions for `model` on this server; none when thinking is wanted."""
    if thinking:
        return ThinkingRequest()
    family = model.split("/")[-1].lower()
    if ollama:
        # Sent only to a model Ollama says thinks: older releases reject a thinking
        # switch for models without the capability.
        if capabilities is None or not capabilities.thinking:
            return ThinkingRequest()
        effort = "low" if family.startswith("gpt-oss") else "none"
        return ThinkingRequest(fields={"reasoning_effort": effort})
    suffix = NO_THINK if family.startswith("qwen3") else ""
    return ThinkingRequest(
        extra_body={"chat_template_kwargs": {"enable_thinking": False}}, system_suffix=suffix
    )
