"""What the configured model can do, as its server says: tools, thinking, context window.

Read from Ollama's `/api/show` (its `capabilities` list and `model_info`) and `/api/ps`
(the window the loaded model really has), or from an OpenAI-compatible server's model
list (vLLM's `max_model_len`) and llama.cpp's `/props` (`n_ctx`). Pure: the probes that
fetch these documents live in `ollama_status`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "OLLAMA_DEFAULT_CONTEXT",
    "ModelCapabilities",
    "ModelFacts",
    "from_ollama",
    "from_openai_server",
]

# Ollama's context window when nothing sets one, on machines with less than 24 GiB of
# VRAM (its FAQ); a longer prompt loses its start silently. Larger GPUs get more, which
# only `/api/ps` tells once the model is loaded.
OLLAMA_DEFAULT_CONTEXT = 4096


@dataclass(frozen=True)
class ModelCapabilities:
    """None where the server does not say."""

    tools: bool | None = None
    thinking: bool | None = None
    context_tokens: int | None = None  # the window the server gives this model now
    context_source: str = ""  # where that figure comes from, for the user
    trained_tokens: int | None = None  # the most the model was trained for

    def summary(self) -> str:
        """A few words for the services panel and `doctor`."""
        parts = []
        if self.tools is not None:
            parts.append("tools" if self.tools else "no tools")
        if self.thinking:
            parts.append("thinks")
        if self.context_tokens:
            parts.append(f"context {self.context_tokens} tokens ({self.context_source})")
        return ", ".join(parts)


@dataclass
class ModelFacts:
    """The configured model's latest capabilities, shared by the process's calls; each
    probe of its server (start-up, every call, the cockpit's watch) updates it."""

    capabilities: ModelCapabilities | None = None


def from_ollama(
    model: str, show: Mapping[str, Any], ps: Mapping[str, Any] | None = None
) -> ModelCapabilities:
    """Capabilities from `/api/show` for `model` and, if it is loaded, `/api/ps`."""
    listed = show.get("capabilities")
    capabilities = [str(c) for c in listed] if isinstance(listed, list) else None
    info = show.get("model_info")
    trained = None
    if isinstance(info, Mapping):
        for key, value in info.items():
            if str(key).endswith(".context_length") and isinstance(value, int):
                trained = value
    num_ctx = _parameter(str(show.get("parameters") or ""), "num_ctx")
    loaded = _loaded_context(model, ps)
    if loaded:
        context, source = loaded, "as loaded"
    elif num_ctx:
        context, source = num_ctx, "the model's num_ctx"
    else:
        context, source = OLLAMA_DEFAULT_CONTEXT, "Ollama's default, assumed"
    if trained:
        context = min(context, trained)
    return ModelCapabilities(
        tools=None if capabilities is None else "tools" in capabilities,
        thinking=None if capabilities is None else "thinking" in capabilities,
        context_tokens=context,
        context_source=source,
        trained_tokens=trained,
    )


def from_openai_server(
    model: str, listing: Mapping[str, Any], props: Mapping[str, Any] | None = None
) -> ModelCapabilities:
    """Capabilities from `GET /models` (vLLM: `max_model_len`; llama.cpp: `meta.n_ctx_train`)
    and llama.cpp's `/props` (`default_generation_settings.n_ctx`, the window it runs)."""
    entry: Mapping[str, Any] = {}
    for item in listing.get("data") or []:
        if isinstance(item, Mapping) and item.get("id") == model:
            entry = item
    meta = entry.get("meta") if isinstance(entry.get("meta"), Mapping) else {}
    trained = meta.get("n_ctx_train") if isinstance(meta, Mapping) else None
    context, source = None, ""
    settings = (props or {}).get("default_generation_settings")
    if isinstance(settings, Mapping) and isinstance(settings.get("n_ctx"), int):
        context, source = settings["n_ctx"], "the server's n_ctx"
    elif isinstance(entry.get("max_model_len"), int):
        context, source = entry["max_model_len"], "the server's max_model_len"
    return ModelCapabilities(
        context_tokens=context,
        context_source=source,
        trained_tokens=trained if isinstance(trained, int) else None,
    )


def _parameter(parameters: str, name: str) -> int | None:
    for line in parameters.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == name and words[1].isdigit():
            return int(words[1])
    return None


def _loaded_context(model: str, ps: Mapping[str, Any] | None) -> int | None:
    names = {model, f"{model}:latest"}
    for item in (ps or {}).get("models") or []:
        if not isinstance(item, Mapping):
            continue
        if names & {item.get("name"), item.get("model")}:
            value = item.get("context_length")
            return value if isinstance(value, int) and value > 0 else None
    return None
