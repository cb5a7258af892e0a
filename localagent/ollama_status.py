"""Is Ollama there, and does it have our model? Asked at start-up and per session."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp

__all__ = ["OllamaStatus", "load_model", "probe_ollama"]


@dataclass(frozen=True)
class OllamaStatus:
    ok: bool
    problem: str = ""  # what is wrong, for logs and the page
    fix: str = ""  # what to do about it
    spoken: str = ""  # a short notice the avatar can say
    spoken_again: str = ""  # shorter, for the same notice later in the same call
    version: str = ""


async def probe_ollama(host: str, model: str, timeout_s: float = 2.0) -> OllamaStatus:
    """Check `/api/version` and `/api/tags` at `host`; never raises."""
    base = host.rstrip("/")
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async with http.get(f"{base}/api/version") as resp:
                resp.raise_for_status()
                version = str((await resp.json()).get("version", "?"))
            async with http.get(f"{base}/api/tags") as resp:
                resp.raise_for_status()
                tags = await resp.json()
    except (aiohttp.ClientError, TimeoutError, ValueError) as e:
        reason = type(e).__name__ if not str(e) else str(e)
        return OllamaStatus(
            ok=False,
            problem=f"Ollama is not reachable at {base} ({reason}).",
            fix=f"start Ollama (`ollama serve`) or set OLLAMA_HOST; then `ollama pull {model}`",
            spoken="I can't reach the Ollama language model server. Please start Ollama, "
            "or set OLLAMA_HOST; once it's running, just say that again.",
            spoken_again="I still can't reach the language model server.",
        )
    names = {m.get("name") for m in tags.get("models", [])} | {
        m.get("model") for m in tags.get("models", [])
    }
    if model not in names and f"{model}:latest" not in names:
        return OllamaStatus(
            ok=False,
            version=version,
            problem=f"Ollama {version} at {base} does not have the model '{model}'.",
            fix=f"ollama pull {model}   (or set LOCALAGENT_LLM_MODEL to a pulled model)",
            spoken="The language model isn't installed in Ollama yet. Please run ollama pull "
            "for the configured model, then say that again.",
            spoken_again="The language model still isn't installed in Ollama.",
        )
    return OllamaStatus(ok=True, version=version)


async def load_model(host: str, model: str, timeout_s: float = 300.0) -> float | None:
    """Ask Ollama to load `model` into memory now (an empty generate request), so the first
    turn does not wait for it. Seconds taken, or None if Ollama refused; never raises."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        body = {"model": model, "keep_alive": "30m"}
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.post(f"{host.rstrip('/')}/api/generate", json=body) as resp,
        ):
            resp.raise_for_status()
            await resp.read()
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    return loop.time() - started
