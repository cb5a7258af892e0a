"""`python -m localagent doctor`: every check a first run depends on, each failure with its fix.

It looks, it never changes anything: packages and versions, CUDA for CTranslate2, the
models on disk, Ollama (reachable, version, model pulled, tool support), the Tavus key and
replica (only when a key is set), the port, the data dir, the flow, the config file, and
what the browser needs. The exit status is 1 when any check is an error.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata as md
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

import aiohttp

from localagent.errors import LocalAgentError
from localagent.settings import Settings
from localagent.settings_loader import load_settings

__all__ = ["HELP", "Check", "add_arguments", "run", "run_checks"]

Status = Literal["ok", "warn", "error", "skip", "info"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


# distribution -> (minimum version or "", what it is for)
_PACKAGES = {
    "pipecat-ai": ("1.14", "the pipeline, transports and flows"),
    "faster-whisper": ("", "speech recognition"),
    "ctranslate2": ("", "whisper's inference engine"),
    "piper-tts": ("", "speech synthesis"),
    "aiortc": ("", "WebRTC"),
    "onnxruntime": ("", "Silero VAD and smart-turn"),
    "textual": ("", "the terminal UI"),
}


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def check_python() -> list[Check]:
    v = sys.version_info
    ok = v >= (3, 11)
    return [
        Check(
            "Python",
            "ok" if ok else "error",
            f"{v.major}.{v.minor}.{v.micro} at {sys.executable}",
            "" if ok else "install Python 3.11 or newer",
        )
    ]


def check_packages() -> list[Check]:
    checks = []
    for dist, (minimum, purpose) in _PACKAGES.items():
        try:
            version = md.version(dist)
        except md.PackageNotFoundError:
            checks.append(
                Check(dist, "error", f"not installed ({purpose})", "pip install -e '.[models]'")
            )
            continue
        if minimum and _version_tuple(version) < _version_tuple(minimum):
            checks.append(
                Check(dist, "error", f"{version}, need {minimum}+", f"pip install -U '{dist}'")
            )
        else:
            checks.append(Check(dist, "ok", f"{version} ({purpose})"))
    try:
        stale = md.version("pipecat-ai-flows")
    except md.PackageNotFoundError:
        pass
    else:
        checks.append(
            Check(
                "pipecat-ai-flows",
                "warn",
                f"{stale} installed: deprecated, flows now ship inside pipecat",
                "pip uninstall pipecat-ai-flows",
            )
        )
    return checks


def check_cuda(settings: Settings) -> list[Check]:
    try:
        import ctranslate2
    except ImportError:
        return [Check("CUDA", "skip", "ctranslate2 is not installed")]
    try:
        count = ctranslate2.get_cuda_device_count()
    except Exception as e:  # a broken CUDA install raises here
        return [Check("CUDA", "warn", f"CTranslate2 cannot query CUDA ({e}); using the CPU")]
    cpu_types = ", ".join(sorted(ctranslate2.get_supported_compute_types("cpu")))
    if count == 0:
        status: Status = "error" if settings.whisper_device == "cuda" else "info"
        return [
            Check(
                "CUDA",
                status,
                f"no CUDA GPU visible to CTranslate2; whisper runs on the CPU ({cpu_types})",
                "install the NVIDIA driver, CUDA 12 and cuDNN 9 (pip install "
                "nvidia-cublas-cu12 nvidia-cudnn-cu12), or use --whisper-device cpu"
                if status == "error"
                else "",
            )
        ]
    try:
        gpu_types = ", ".join(sorted(ctranslate2.get_supported_compute_types("cuda")))
    except Exception as e:
        return [
            Check(
                "CUDA",
                "warn",
                f"{count} GPU(s) visible but CUDA libraries fail to load ({e})",
                "pip install nvidia-cublas-cu12 nvidia-cudnn-cu12 (CUDA 12, cuDNN 9)",
            )
        ]
    return [Check("CUDA", "ok", f"{count} GPU(s); compute types {gpu_types}")]


def check_hardware(settings: Settings) -> list[Check]:
    """What this machine suits, beside what is configured (a rule of thumb, see hardware.py)."""
    from localagent.models.hardware import WHISPER_LADDER, detect, recommend

    hardware = detect()
    advice = recommend(hardware)
    checks = [
        Check(
            "hardware",
            "info",
            f"{hardware.describe()}: suits whisper {advice.whisper} and the LLM "
            f"{advice.llm} ({advice.why}); --whisper-model auto picks the best installed "
            f"whisper, `ollama pull {advice.llm}` gets the LLM",
        )
    ]
    configured = settings.whisper_model.removesuffix(".en")
    ladder = [name.removesuffix(".en") for name in WHISPER_LADDER]
    if configured in ladder and ladder.index(configured) < ladder.index(
        advice.whisper.removesuffix(".en")
    ):
        checks.append(
            Check(
                "whisper size",
                "warn",
                f"{settings.whisper_model} is larger than this machine suits "
                f"({advice.whisper}): transcripts may come too late for a conversation",
                f"--whisper-model {advice.whisper} (or auto); measure with scripts/bench.py",
            )
        )
    return checks


def check_models(settings: Settings) -> list[Check]:
    from localagent.models.resolve import resolve_piper_voice, resolve_whisper_model

    checks = []
    for label, resolve, spec, server in (
        ("whisper model", resolve_whisper_model, settings.whisper_model, settings.stt_url),
        ("Piper voice", resolve_piper_voice, settings.piper_voice, settings.tts_url),
    ):
        if server is not None:
            checks.append(Check(label, "skip", f"served by {server}, not loaded here"))
            continue
        try:
            ref = resolve(spec, settings.models_dir)
        except LocalAgentError as e:
            checks.append(Check(label, "error", e.message, e.fix))
        else:
            checks.append(Check(label, "ok", f"{ref.name} from {ref.source}: {ref.path}"))
    return checks


async def check_model_servers(settings: Settings) -> list[Check]:
    """Each service configured at a URL (--stt-url, --llm-url, --tts-url) answers."""
    from localagent.ollama_status import probe_openai_server

    checks = []
    if settings.llm_url is not None:
        status = await probe_openai_server(settings.llm_url, settings.llm_model, 3.0)
        checks.append(
            Check("LLM server", "ok", f"{settings.llm_model} at {settings.llm_url}")
            if status.ok
            else Check("LLM server", "error", status.problem, status.fix)
        )
    for name, url, probe, fix in (
        (
            "STT server",
            settings.stt_url,
            "/models",
            "start an OpenAI-compatible transcription server (e.g. speaches / "
            "faster-whisper-server) or correct --stt-url (its /v1 base URL)",
        ),
        (
            "TTS server",
            settings.tts_url,
            "",
            "start Piper's server (python -m piper.http_server -m VOICE.onnx) or correct "
            "--tts-url (its /synthesize URL)",
        ),
    ):
        if url is None:
            continue
        # A Piper server answers GET /voices; the synthesis URL itself takes only POST.
        target = f"{url}{probe}" if probe else url.rsplit("/", 1)[0] + "/voices"
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http,
                http.get(target) as resp,
            ):
                resp.raise_for_status()
                await resp.read()
        except (aiohttp.ClientError, TimeoutError) as e:
            reason = str(e) or type(e).__name__
            checks.append(Check(name, "error", f"{target} does not answer ({reason})", fix))
        else:
            checks.append(Check(name, "ok", f"{target} answers"))
    return checks


async def check_ollama(settings: Settings) -> list[Check]:
    from localagent.ollama_status import probe_ollama

    if settings.llm_url is not None:
        return [Check("Ollama", "skip", f"the LLM runs at {settings.llm_url} (--llm-url)")]

    host, model = settings.ollama_host.rstrip("/"), settings.llm_model
    status = await probe_ollama(host, model, timeout_s=3.0)
    if not status.ok:
        if not status.version:
            return [Check("Ollama", "error", status.problem, status.fix)]
        return [
            Check("Ollama", "ok", f"{status.version} at {host}"),
            Check("LLM model", "error", status.problem, f"ollama pull {model}"),
        ]
    checks = [
        Check("Ollama", "ok", f"{status.version} at {host}"),
        Check("LLM model", "ok", f"{model} is pulled"),
    ]
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
            http.post(f"{host}/api/show", json={"model": model}) as resp,
        ):
            resp.raise_for_status()
            capabilities = (await resp.json()).get("capabilities")
    except (aiohttp.ClientError, TimeoutError, ValueError) as e:
        checks.append(Check("tool calling", "warn", f"could not ask Ollama ({e})"))
        return checks
    if capabilities is None:
        checks.append(Check("tool calling", "warn", "this Ollama does not report capabilities"))
    elif "tools" in capabilities:
        checks.append(Check("tool calling", "ok", f"{model} supports tools"))
    else:
        checks.append(
            Check(
                "tool calling",
                "error",
                f"{model} does not support tools, which flows need",
                "use a tool-capable model, e.g. ollama pull llama3.2:3b and "
                "LOCALAGENT_LLM_MODEL=llama3.2:3b",
            )
        )
    return checks


async def check_tavus(settings: Settings) -> list[Check]:
    if not settings.tavus_configured:
        return [Check("Tavus", "skip", "no TAVUS_API_KEY: the local avatar will speak")]
    if not settings.tavus_replica_id:
        return [
            Check(
                "Tavus",
                "warn",
                "TAVUS_API_KEY is set but TAVUS_REPLICA_ID is not: the local avatar will speak",
                "set TAVUS_REPLICA_ID to one of your replicas (Tavus dashboard > Replicas)",
            )
        ]
    if settings.offline:
        return [Check("Tavus", "skip", "--offline: Tavus is not used")]
    assert settings.tavus_api_key is not None
    url = f"{settings.tavus_api_url.rstrip('/')}/replicas/{settings.tavus_replica_id}"
    headers = {"x-api-key": settings.tavus_api_key.get_secret_value()}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=8)) as http,
            http.get(url, headers=headers) as resp,
        ):
            body = await resp.json(content_type=None) if resp.status == 200 else {}
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as e:
        return [
            Check(
                "Tavus",
                "error",
                f"cannot reach {settings.tavus_api_url} ({type(e).__name__})",
                "check the network or TAVUS_API_URL; calls will use the local avatar",
            )
        ]
    fixes = {
        401: ("the API key was rejected (401)", "check TAVUS_API_KEY (Tavus dashboard > API keys)"),
        402: ("the account is out of credits (402)", "add conversational credits"),
        404: (
            f"replica {settings.tavus_replica_id} not found (404)",
            "check TAVUS_REPLICA_ID (Tavus dashboard > Replicas)",
        ),
    }
    if status in fixes:
        detail, fix = fixes[status]
        return [Check("Tavus", "error", detail, fix)]
    if status != 200:
        return [Check("Tavus", "error", f"Tavus answered HTTP {status}", "try again later")]
    name = body.get("replica_name", "?")
    state = body.get("status", "?")
    ready = state in ("completed", "ready", "?")
    return [
        Check(
            "Tavus",
            "ok" if ready else "warn",
            f"key valid; replica {settings.tavus_replica_id} '{name}' ({state})",
            "" if ready else "wait until the replica finishes training",
        )
    ]


def check_port(settings: Settings) -> list[Check]:
    from localagent.web.port import check_port_free

    try:
        check_port_free(settings.host, settings.port)
    except LocalAgentError as e:
        return [Check("port", "error", e.message, e.fix)]
    return [Check("port", "ok", f"{settings.host}:{settings.port} is free")]


def check_data_dir(settings: Settings) -> list[Check]:
    """Doctor looks and changes nothing: an absent data dir is created at the first run."""
    from localagent.data_dir import SESSIONS_DB
    from localagent.data_dir import check_data_dir as usable

    where = settings.data_dir
    if not where.exists():
        return [Check("data dir", "info", f"{where} (created at the first run)")]
    try:
        usable(where, sessions=settings.record_sessions)
    except LocalAgentError as e:
        return [Check("data dir", "error", e.message, e.fix)]
    free_mb = shutil.disk_usage(where).free / 1e6
    database = where / SESSIONS_DB
    size = (
        f"; sessions database {database.stat().st_size / 1e6:.1f} MB" if database.exists() else ""
    )
    if free_mb < 100:
        return [
            Check(
                "data dir",
                "warn",
                f"{where}: only {free_mb:.0f} MB free{size}",
                "free disk space: the session recorder stops writing when the disk is full",
            )
        ]
    return [Check("data dir", "ok", f"{where} is writable, {free_mb / 1000:.1f} GB free{size}")]


def check_flow(settings: Settings) -> list[Check]:
    from localagent.flows.graph import check_flow as problems_of

    problems = problems_of(settings.flow, settings.flows_dir)
    if problems:
        first = problems[0]
        return [
            Check(
                "flow",
                "error",
                f"'{settings.flow}': {first.message}"
                + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                f"python -m localagent flows check {settings.flow}",
            )
        ]
    return [Check("flow", "ok", f"'{settings.flow}' loads")]


def check_portrait(settings: Settings) -> list[Check]:
    """Whether the local avatar can animate a photo, and the configured one if any."""
    from localagent.avatar.landmarks import PortraitError, landmarker_missing, load_portrait

    missing = landmarker_missing()
    checks = [
        Check(
            "portrait avatar",
            "info" if missing else "ok",
            f"cannot find faces in new photos: {missing}"
            if missing
            else "dlib finds the face in a photo (68 landmarks, no download)",
            "pip install -e '.[portrait]' (or put a landmarks file beside the photo)"
            if missing
            else "",
        )
    ]
    if settings.avatar_image is not None:
        try:
            _, landmarks = load_portrait(
                settings.avatar_image, settings.data_dir / "avatar" / "landmarks"
            )
        except PortraitError as e:
            checks.append(Check("avatar image", "error", e.message, e.fix))
        else:
            checks.append(
                Check(
                    "avatar image",
                    "ok",
                    f"{settings.avatar_image}: a face {landmarks.face_width:.0f} px wide",
                )
            )
    return checks


def check_config() -> list[Check]:
    from localagent.settings_loader import check_config_file

    try:
        path = check_config_file()
    except LocalAgentError as e:
        return [Check("config file", "error", e.message, e.fix)]
    return [
        Check("config file", "ok" if path else "info", str(path) if path else "none (defaults)")
    ]


def check_browser(settings: Settings) -> list[Check]:
    from localagent.web.guard import is_loopback_host

    checks = []
    if not is_loopback_host(settings.host):
        checks.append(
            Check(
                "microphone",
                "warn",
                f"browsers only allow the microphone on https:// or localhost pages; "
                f"http://{settings.host} is neither",
                "open it through an SSH tunnel (ssh -L 7860:127.0.0.1:7860 host) or a TLS "
                "reverse proxy",
            )
        )
    found = [
        b for b in ("chromium", "google-chrome", "firefox", "microsoft-edge") if shutil.which(b)
    ]
    checks.append(
        Check(
            "browser",
            "info",
            f"found {', '.join(found)}" if found else "no browser on PATH (any modern one works)",
            "",
        )
    )
    return checks


def run_checks(settings: Settings) -> list[Check]:
    sync_checks: list[Callable[[], list[Check]]] = [
        check_python,
        check_packages,
        lambda: check_cuda(settings),
        lambda: check_hardware(settings),
        lambda: check_models(settings),
        lambda: check_flow(settings),
        lambda: check_portrait(settings),
        check_config,
        lambda: check_port(settings),
        lambda: check_data_dir(settings),
    ]
    checks = [c for check in sync_checks for c in check()]

    async def remote() -> list[Check]:
        ollama, servers, tavus = await asyncio.gather(
            check_ollama(settings), check_model_servers(settings), check_tavus(settings)
        )
        return ollama + servers + tavus

    return checks + asyncio.run(remote()) + check_browser(settings)


_MARKS = {"ok": "ok", "warn": "WARN", "error": "ERROR", "skip": "skip", "info": "info"}


HELP = "check everything a run needs and say how to fix what is missing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    checks = run_checks(load_settings())  # invalid settings: one line and exit 2, as anywhere
    failed = any(c.status == "error" for c in checks)
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}, indent=2))
        return 1 if failed else 0
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{_MARKS[c.status]:<6}{c.name:<{width + 2}}{c.detail}")
        if c.fix:
            print(f"{'':<{width + 8}}fix: {c.fix}")
    errors = sum(c.status == "error" for c in checks)
    warns = sum(c.status == "warn" for c in checks)
    print(f"\n{errors} error(s), {warns} warning(s)." + ("" if failed else " Ready to run."))
    return 1 if failed else 0
