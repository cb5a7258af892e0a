"""Is the LLM's server there (Ollama, or an OpenAI-compatible one at `--llm-url`), and does it
have our model? Asked at start-up, every few seconds for the cockpit, and per session."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from localagent.events import EventBus, ServiceHealth
from localagent.llm.capabilities import ModelCapabilities, from_ollama, from_openai_server
from localagent.llm.flow_needs import FlowNeeds, notes_for, refuses_tools
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
    capabilities: ModelCapabilities | None = None  # what the server says of the model
    refuses_calls: bool = False  # a call cannot work (a flow with tools, a model without)
    notes: tuple[str, ...] = ()  # warnings that do not stop a call (the context budget)


async def probe_ollama(
    host: str, model: str, timeout_s: float = 2.0, needs: FlowNeeds | None = None
) -> OllamaStatus:
    """Check `/api/version` and `/api/tags` at `host`, then what the model can do
    (`/api/show`, `/api/ps`) against what the flow `needs`; never raises."""
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
    capabilities = await _ollama_capabilities(base, model, timeout)
    status = OllamaStatus(
        ok=True,
        version=version,
        capabilities=capabilities,
        notes=notes_for(needs, capabilities, model, ollama=True),
    )
    if not refuses_tools(needs, capabilities):
        return status
    assert needs is not None
    others = await _tool_models(base, sorted(n for n in names if n and n != model), timeout)
    return _refused(status, model, needs, others)


async def _get_json(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None
) -> dict[str, Any] | None:
    try:
        async with http.request(method, url, json=body) as resp:
            if resp.status != 200:
                return None
            data = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    return data if isinstance(data, dict) else None


async def _ollama_capabilities(
    base: str, model: str, limits: aiohttp.ClientTimeout
) -> ModelCapabilities | None:
    async with aiohttp.ClientSession(timeout=limits) as http:
        show = await _get_json(http, "POST", f"{base}/api/show", {"model": model})
        if show is None:
            return None
        return from_ollama(model, show, await _get_json(http, "GET", f"{base}/api/ps"))


# Installed models asked about when looking for one that takes tools.
_MODELS_ASKED = 20


async def _tool_models(base: str, names: list[str], limits: aiohttp.ClientTimeout) -> list[str]:
    """The installed models that take tools (the first few asked)."""
    found = []
    async with aiohttp.ClientSession(timeout=limits) as http:
        for name in names[:_MODELS_ASKED]:
            show = await _get_json(http, "POST", f"{base}/api/show", {"model": name})
            if show is not None and "tools" in (show.get("capabilities") or []):
                found.append(name.removesuffix(":latest"))
    return found


def _refused(status: OllamaStatus, model: str, needs: FlowNeeds, others: list[str]) -> OllamaStatus:
    """A model without tools for a flow with functions: no call can work."""
    if others:
        fix = (
            f"use a model you have that takes tools: --llm-model {others[0]} (or "
            f"LOCALAGENT_LLM_MODEL={others[0]})"
            + (f"; others: {', '.join(others[1:4])}" if len(others) > 1 else "")
        )
    else:
        from localagent.models.hardware import detect, recommend

        suggested = recommend(detect()).llm
        fix = f"ollama pull {suggested}, then --llm-model {suggested}"
    return dataclasses.replace(
        status,
        ok=False,
        refuses_calls=True,
        problem=f"{model} does not support tools, which the flow '{needs.flow}' needs: "
        "no call can work with it.",
        fix=fix,
        spoken="This language model cannot use the tools this conversation needs. "
        "Please choose another model and start again.",
        spoken_again="This language model still cannot use tools.",
    )


async def probe_openai_server(
    url: str, model: str, timeout_s: float = 2.0, needs: FlowNeeds | None = None
) -> OllamaStatus:
    """Check an OpenAI-compatible LLM server (`--llm-url`): `GET /models` lists `model`;
    its context window from that list (vLLM) or `/props` (llama.cpp's server)."""
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
    async with aiohttp.ClientSession(timeout=timeout) as http:
        props = await _get_json(http, "GET", f"{url.removesuffix('/v1')}/props")
    capabilities = from_openai_server(model, listed, props)
    return OllamaStatus(
        ok=True,
        version="OpenAI-compatible",
        capabilities=capabilities,
        notes=notes_for(needs, capabilities, model, ollama=False),
    )


async def probe_llm(
    settings: Settings, timeout_s: float = 2.0, needs: FlowNeeds | None = None
) -> OllamaStatus:
    """The configured LLM's server: Ollama, or the OpenAI-compatible one at `llm_url`."""
    if settings.llm_url is not None:
        return await probe_openai_server(settings.llm_url, settings.llm_model, timeout_s, needs)
    return await probe_ollama(settings.ollama_host, settings.llm_model, timeout_s, needs)


def describe_llm(status: OllamaStatus, settings: Settings) -> str:
    if settings.llm_url is None:
        return describe(status, settings.ollama_host, settings.llm_model)
    where = settings.llm_url.removeprefix("http://").removeprefix("https://")
    return _line(status, f"OpenAI-compatible server {settings.llm_model} @ {where}")


def _line(status: OllamaStatus, line: str) -> str:
    """The LLM's line in the services panel: what it is, what it can do, what is wrong."""
    summary = status.capabilities.summary() if status.capabilities else ""
    if summary:
        line += f" ({summary})"
    if status.refuses_calls:
        return f"CANNOT CALL {line}: {status.problem}"
    if not status.ok:
        return f"DOWN {line}: {status.problem}"
    return "".join([line, *(f"\nwarn: {note}" for note in status.notes)])


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


def _seen(status: OllamaStatus) -> tuple[Any, ...]:
    """What the cockpit shows of a status: a change in any of it is published."""
    return (status.ok, status.problem, status.notes, status.capabilities)


def describe(status: OllamaStatus, host: str, model: str) -> str:
    """The LLM's line in the TUI's services panel."""
    where = host.removeprefix("http://").removeprefix("https://")
    return _line(status, f"Ollama {model} @ {where}")


async def watch_ollama(
    host: str,
    model: str,
    bus: EventBus,
    first: OllamaStatus | None = None,
    interval_s: float = 5.0,
    on_change: Callable[[OllamaStatus], None] | None = None,
    settings: Settings | None = None,
    needs: FlowNeeds | None = None,
) -> None:
    """Ask Ollama (or, given `settings` with an `llm_url`, that server) every `interval_s`
    and publish its health whenever it changes, so the cockpit shows it coming back (or
    going away, or its context window changing) without a call."""
    last = first
    while True:
        await asyncio.sleep(interval_s)
        if settings is not None:
            status = await probe_llm(settings, timeout_s=min(2.0, interval_s), needs=needs)
        else:
            status = await probe_ollama(host, model, min(2.0, interval_s), needs)
        if last is not None and _seen(status) == _seen(last):
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
