"""`doctor`'s checks of the models and their servers: CUDA, what the machine suits, the
whisper model and Piper voice on disk, Ollama (or the LLM server at a URL) and any STT/TTS
server at a URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp

from localagent.commands.check import Check, Status
from localagent.errors import LocalAgentError
from localagent.settings import Settings

if TYPE_CHECKING:
    from localagent.llm.capabilities import ModelCapabilities
    from localagent.llm.flow_needs import FlowNeeds

__all__ = [
    "check_cuda",
    "check_hardware",
    "check_model_servers",
    "check_models",
    "check_ollama",
]


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
        needs = _flow_needs(settings)
        status = await probe_openai_server(settings.llm_url, settings.llm_model, 3.0, needs)
        if status.ok:
            checks.append(Check("LLM server", "ok", f"{settings.llm_model} at {settings.llm_url}"))
            checks += _model_checks(settings, status.capabilities, needs)
        else:
            checks.append(Check("LLM server", "error", status.problem, status.fix))
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


def _flow_needs(settings: Settings) -> FlowNeeds | None:
    """What the configured flow asks of the model; None if it does not load (the flow
    check says why)."""
    from localagent.flows.loader import load_flow
    from localagent.llm.flow_needs import flow_needs

    try:
        loaded = load_flow(settings.flow, settings.flows_dir)
    except LocalAgentError:
        return None
    return flow_needs(loaded.name, loaded.flow)


def _model_checks(
    settings: Settings, capabilities: ModelCapabilities | None, needs: FlowNeeds | None
) -> list[Check]:
    """Thinking and the context window, against what the flow needs."""
    from localagent.llm.context_budget import WARN_FRACTION

    model, checks = settings.llm_model, []
    if capabilities is not None and capabilities.thinking:
        checks.append(
            Check(
                "thinking",
                "info",
                f"{model} thinks before it answers; "
                + (
                    "--llm-thinking on lets it (each turn waits for its reasoning)"
                    if settings.llm_thinking
                    else "localagent asks it not to (--llm-thinking on to let it)"
                ),
            )
        )
    window = capabilities.context_tokens if capabilities else None
    if needs is None or not window:
        return checks
    tokens = needs.largest.tokens
    share = f"{tokens} tokens, {round(100 * tokens / window)}% of {window}"
    where = f"the flow's largest request (node {needs.largest.node}) is about {share}"
    source = f" ({capabilities.context_source})" if capabilities else ""
    if tokens <= WARN_FRACTION * window:
        checks.append(Check("context window", "ok", where + source))
    else:
        from localagent.llm.context_budget import budget_warning

        warning = budget_warning(tokens, window, model, settings.llm_url is None)
        problem, _, fix = warning.partition(" Fix: ")
        checks.append(Check("context window", "warn", problem + source, fix))
    return checks


async def check_ollama(settings: Settings) -> list[Check]:
    from localagent.ollama_status import probe_ollama

    if settings.llm_url is not None:
        return [Check("Ollama", "skip", f"the LLM runs at {settings.llm_url} (--llm-url)")]

    host, model = settings.ollama_host.rstrip("/"), settings.llm_model
    needs = _flow_needs(settings)
    status = await probe_ollama(host, model, timeout_s=3.0, needs=needs)
    if not status.ok and not status.refuses_calls:
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
    capabilities = status.capabilities
    if capabilities is None or capabilities.tools is None:
        checks.append(Check("tool calling", "warn", "this Ollama does not report capabilities"))
    elif capabilities.tools:
        checks.append(Check("tool calling", "ok", f"{model} supports tools"))
    elif status.refuses_calls:
        checks.append(Check("tool calling", "error", status.problem, status.fix))
    else:
        checks.append(
            Check("tool calling", "info", f"{model} takes no tools; the flow offers none")
        )
    return checks + _model_checks(settings, capabilities, needs)
