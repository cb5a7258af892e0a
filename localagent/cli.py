"""`python -m localagent`: read flags once, start the app, report failures as one message."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from loguru import logger
from pydantic import ValidationError

from localagent.commands import SUBCOMMANDS, run_subcommand
from localagent.config_file import check_config_file
from localagent.errors import ConfigError, LocalAgentError
from localagent.redact import redact, register_secret
from localagent.settings import Settings

__all__ = ["build_parser", "main"]

# CLI flag -> settings field; flags left out keep the environment's (or .env's) value.
_FLAGS: dict[str, dict[str, Any]] = {
    "host": {"help": "address to bind (default 127.0.0.1)"},
    "port": {"type": int, "help": "port to serve on (default 7860)"},
    "flow": {"help": "flow name in flows/ or path to a flow file"},
    "ollama_host": {"help": "Ollama base URL (env OLLAMA_HOST)"},
    "llm_model": {"help": "Ollama model (env LOCALAGENT_LLM_MODEL)"},
    "llm_timeout": {"type": float, "help": "seconds Ollama may go silent mid-turn (default 20)"},
    "whisper_model": {"help": "faster-whisper size name or CTranslate2 model dir"},
    "whisper_device": {"choices": ["auto", "cpu", "cuda"]},
    "whisper_compute_type": {"help": "CTranslate2 compute type (default auto)"},
    "whisper_beam_size": {"type": int, "help": "whisper beam size (default 1: greedy)"},
    "whisper_window_s": {"type": float, "help": "whisper's short window, s (default 10; 30: off)"},
    "piper_voice": {"help": "Piper voice name or path to an .onnx"},
    "models_dir": {"help": "where to look for models (default ./models)"},
    "avatar": {"choices": ["auto", "tavus", "local"]},
    "turn_stop": {"choices": ["auto", "speech-timeout", "smart-turn"]},
    "offline": {"action": "store_true", "help": "allow no connection off this machine"},
    "require_token": {"action": "store_true", "help": "ask for the per-run token on loopback too"},
    "max_sessions": {"type": int, "help": "concurrent calls allowed (default 1)"},
    "user_speech_timeout": {"type": float, "help": "speech-timeout: silence that ends a turn"},
    "smart_turn_stop_secs": {"type": float, "help": "smart-turn: longest wait when unfinished"},
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m localagent",
        description="Local-first AI video chat. Open the printed URL and talk to the avatar.",
    )
    for name, kwargs in _FLAGS.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, default=None, **kwargs)
    parser.add_argument("--no-tui", action="store_true", help="plain logs instead of the TUI")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    return parser


def _settings_from(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k in _FLAGS if (v := getattr(args, k)) is not None}
    check_config_file()
    try:
        settings = Settings(**overrides)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(
            redact(f"Invalid settings: {problems}"),
            "check the flags, .env and environment variables named above",
        ) from None
    if settings.tavus_api_key is not None:
        register_secret(settings.tavus_api_key.get_secret_value())
    if settings.avatar == "tavus" and not settings.wants_tavus():
        raise ConfigError(
            "--avatar tavus needs TAVUS_API_KEY and TAVUS_REPLICA_ID.",
            "set both (in the environment or .env), or use --avatar local",
        )
    return settings


def _write_stderr(message: str) -> None:
    sys.stderr.write(redact(message))
    sys.stderr.flush()


def _configure_logging(level: str) -> None:
    logger.remove()
    logger.add(
        _write_stderr,
        level=level.upper(),
        format="{time:HH:mm:ss.SSS} | {level: <7} | {message}",
        diagnose=False,  # no local variables (which may hold keys) in tracebacks
    )


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        _configure_logging("WARNING")
        return run_subcommand(argv)
    args = build_parser().parse_args(argv)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the handler it found;
    # make that handler end the process the way Ctrl-C does: cleanly, with status 0.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    _configure_logging(args.log_level)
    try:
        settings = _settings_from(args)
        use_tui = not args.no_tui and sys.stdin.isatty() and sys.stdout.isatty()
        from localagent.startup import run_app  # pipecat and the models: not for subcommands

        asyncio.run(run_app(settings, use_tui=use_tui, log_level=args.log_level))
    except LocalAgentError as e:
        print(redact(f"localagent: {e}"), file=sys.stderr)
        return 2 if isinstance(e, ConfigError) else 1
    except KeyboardInterrupt:
        pass
    return 0
