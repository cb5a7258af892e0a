"""Is the LLM's server there (Ollama, or an OpenAI-compatible one at `--llm-url`), and does it
have our model? Asked at start-up, every few seconds for the cockpit, and per session."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from localagent.events import EventBus, ServiceHealth
from localagent.settings import Settings

__all__ = [
    "OllamaStatus",
    "describe",
    "describe_llm",
    "load_model",
    "probe_llm",
    "probe_ollama",
    "probe_openai_server",
    "watch_ollama",
]


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


async def probe_openai_server(url: str, model: str, timeout_s: float = 2.0) -> OllamaStatus:
    """Check an OpenAI-compatible LLM server (`--llm-url`): `GET /models` lists `model`."""
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.get(f"{url}/models") as resp,
        ):
            resp.raise_for_status()
            listed = await resp.json()
    except (aiohttp.ClientError, TimeoutError, ValueError) as e:
        reason = type(e).__name__ if not str(e) else str(e)
        return OllamaStatus(
            ok=False,
            problem=f"The LLM server is not reachable at {url} ({reason}).",
            fix="start it (vLLM: `vllm serve MODEL`; llama.cpp: `llama-server -m MODEL.gguf`) "
            "or correct --llm-url (its OpenAI base URL, ending in /v1)",
            spoken="I can't reach the language model server. Please start it; once it's "
            "running, just say that again.",
            spoken_again="I still can't reach the language model server.",
        )
    ids = {str(m.get("id")) for m in listed.get("data", []) if isinstance(m, dict)}
    if ids and model not in ids:
        return OllamaStatus(
            ok=False,
            problem=f"The LLM server at {url} serves {', '.join(sorted(ids))}, not '{model}'.",
            fix=f"set --llm-model to one of those, or start the server with {model}",
            spoken="The language model server does not have the configured model.",
            spoken_again="The language model server still does not have the model.",
        )
    return OllamaStatus(ok=True, version="OpenAI-compatible")


async def probe_llm(settings: Settings, timeout_s: float = 2.0) -> OllamaStatus:
    """The configured LLM's server: Ollama, or the OpenAI-compatible one at `llm_url`."""
    if settings.llm_url is not None:
        return await probe_openai_server(settings.llm_url, settings.llm_model, timeout_s)
    return await probe_ollama(settings.ollama_host, settings.llm_model, timeout_s)


def describe_llm(status: OllamaStatus, settings: Settings) -> str:
    if settings.llm_url is None:
        return describe(status, settings.ollama_host, settings.llm_model)
    where = settings.llm_url.removeprefix("http://").removeprefix("https://")
    line = f"OpenAI-compatible server {settings.llm_model} @ {where}"
    return line if status.ok else f"DOWN {line}: {status.problem}"


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


def describe(status: OllamaStatus, host: str, model: str) -> str:
    """The LLM's line in the TUI's services panel."""
    where = host.removeprefix("http://").removeprefix("https://")
    line = f"Ollama {model} @ {where}"
    return line if status.ok else f"DOWN {line}: {status.problem}"


async def watch_ollama(
    host: str,
    model: str,
    bus: EventBus,
    first: OllamaStatus | None = None,
    interval_s: float = 5.0,
    on_change: Callable[[OllamaStatus], None] | None = None,
    settings: Settings | None = None,
) -> None:
    """Ask Ollama (or, given `settings` with an `llm_url`, that server) every `interval_s`
    and publish its health whenever it changes, so the cockpit shows it coming back (or
    going away) without a call."""
    last = first
    while True:
        await asyncio.sleep(interval_s)
        if settings is not None:
            status = await probe_llm(settings, timeout_s=min(2.0, interval_s))
        else:
            status = await probe_ollama(host, model, timeout_s=min(2.0, interval_s))
        if last is not None and (status.ok, status.problem) == (last.ok, last.problem):
            continue
        last = status
        if on_change is not None:
            on_change(status)
        bus.publish(
            ServiceHealth(
                "",
                service="LLM",
                ok=status.ok,
                detail=describe_llm(status, settings)
                if settings is not None
                else describe(status, host, model),
                fix=status.fix,
            )
        )
