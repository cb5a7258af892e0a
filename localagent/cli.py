"""`python -m localagent`: read flags once, start the app, report failures as one message."""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import signal
import socket
import sys
from typing import Any

from loguru import logger
from pydantic import ValidationError

from localagent.commands import SUBCOMMANDS, run_subcommand
from localagent.errors import ConfigError, LocalAgentError
from localagent.settings import Settings

__all__ = ["build_parser", "main"]

# CLI flag -> settings field; flags left out keep the environment's (or .env's) value.
_FLAGS: dict[str, dict[str, Any]] = {
    "host": {"help": "address to bind (default 127.0.0.1)"},
    "port": {"type": int, "help": "port to serve on (default 7860)"},
    "flow": {"help": "flow name in flows/ or path to a flow file"},
    "ollama_host": {"help": "Ollama base URL (env OLLAMA_HOST)"},
    "llm_model": {"help": "Ollama model (env LOCALAGENT_LLM_MODEL)"},
    "whisper_model": {"help": "faster-whisper size name or CTranslate2 model dir"},
    "whisper_device": {"choices": ["auto", "cpu", "cuda"]},
    "whisper_compute_type": {"help": "CTranslate2 compute type (default auto)"},
    "piper_voice": {"help": "Piper voice name or path to an .onnx"},
    "models_dir": {"help": "where to look for models (default ./models)"},
    "avatar": {"choices": ["auto", "tavus", "local"]},
    "turn_stop": {"choices": ["speech-timeout", "smart-turn"]},
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
    try:
        settings = Settings(**overrides)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(
            f"Invalid settings: {problems}",
            "check the flags, .env and environment variables named above",
        ) from None
    if settings.avatar == "tavus" and not settings.wants_tavus():
        raise ConfigError(
            "--avatar tavus needs TAVUS_API_KEY and TAVUS_REPLICA_ID.",
            "set both (in the environment or .env), or use --avatar local",
        )
    return settings


def _check_port_free(host: str, port: int) -> None:
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"Port {port} on {host} is already in use (another localagent?).",
                    "stop the other program or pick another port with --port",
                ) from None
            raise ConfigError(f"Cannot bind {host}:{port}: {e.strerror}.", "check --host") from None


def _configure_logging(level: str) -> None:
    logger.remove()
    logger.add(
        sys.stderr, level=level.upper(), format="{time:HH:mm:ss.SSS} | {level: <7} | {message}"
    )


async def _serve(settings: Settings) -> None:
    import uvicorn

    from localagent.avatar.journal import TavusJournal, end_orphaned_conversations
    from localagent.engines import load_engines
    from localagent.events import EventBus
    from localagent.flows import load_flow
    from localagent.ollama_status import probe_ollama
    from localagent.runtime import Runtime
    from localagent.server import AppState, create_app
    from localagent.store import Recorder, SessionStore

    flow = load_flow(settings.flow, settings.flows_dir)
    _check_port_free(settings.host, settings.port)
    logger.info(f"flow '{flow.name}' loaded from {flow.path}")
    logger.info("loading models...")
    engines = await asyncio.to_thread(load_engines, settings)
    ollama = await probe_ollama(settings.ollama_host, settings.llm_model)
    if ollama.ok:
        logger.info(f"Ollama {ollama.version} at {settings.ollama_host} has {settings.llm_model}")
    else:
        logger.warning(f"{ollama.problem} fix: {ollama.fix}")
    journal = TavusJournal(settings.data_dir / "tavus-conversations.json")
    key = settings.tavus_api_key.get_secret_value() if settings.tavus_api_key else None
    await end_orphaned_conversations(journal, key)
    bus = EventBus()
    recorder = None
    if settings.record_sessions:
        recorder = Recorder(SessionStore(settings.data_dir / "sessions.sqlite3"))
        bus.subscribe(recorder)
    runtime = Runtime(settings=settings, engines=engines, flow=flow, journal=journal, bus=bus)
    state = AppState(runtime=runtime, ollama=ollama)
    app = create_app(state)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)

    async def announce() -> None:
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1] if server.servers else settings.port
        host = settings.host if ":" not in settings.host else f"[{settings.host}]"
        # Tests and scripts wait for this exact line.
        print(f"localagent ready: open http://{host}:{port}/", file=sys.stderr, flush=True)

    announcer = asyncio.create_task(announce())
    try:
        await server.serve()
    finally:
        announcer.cancel()
        if recorder is not None:
            recorder.close()


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
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a model hub by accident
    try:
        settings = _settings_from(args)
        if not args.no_tui:
            logger.info("the TUI is not built yet; running with plain logs (--no-tui)")
        asyncio.run(_serve(settings))
    except LocalAgentError as e:
        print(f"localagent: {e}", file=sys.stderr)
        return 2 if isinstance(e, ConfigError) else 1
    except KeyboardInterrupt:
        pass
    return 0
