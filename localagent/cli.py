"""`python -m localagent [COMMAND]`: the one parser; flags are read here and nowhere else.

Without a command it runs the app (server, page and TUI); the commands are `doctor`,
`config`, `models`, `flows`, `sessions` and `tui`. Every command loads its settings through
`load_settings`, so a bad setting is one line and exit status 2 wherever it shows up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import importlib
import os
import signal
import sys
from types import ModuleType
from typing import Any

from loguru import logger

from localagent.errors import ConfigError, LocalAgentError
from localagent.privacy.redact import redact
from localagent.settings import Settings
from localagent.settings_flags import add_setting_flags, flag_fields
from localagent.settings_loader import load_settings

__all__ = ["COMMANDS", "build_parser", "main", "settings_from"]

# command -> the module that defines it: HELP, add_arguments(parser), run(args) -> int.
# None of them imports pipecat to build its parser, so `--help` stays quick.
COMMANDS = {
    "doctor": "localagent.commands.doctor",
    "config": "localagent.commands.config",
    "models": "localagent.models.cli",
    "flows": "localagent.commands.flows",
    "sessions": "localagent.commands.sessions",
    "tui": "localagent.commands.tui",
}


def _command(name: str) -> ModuleType:
    return importlib.import_module(COMMANDS[name])


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own: usage, then exit 2
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m localagent",
        description="Local-first AI video chat. Without a command: start the server and the "
        "TUI; open the printed URL and talk to the avatar.",
    )
    add_setting_flags(parser)
    parser.add_argument("--no-tui", action="store_true", help="plain logs instead of the TUI")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name in COMMANDS:
        module = _command(name)
        sub = commands.add_parser(
            name, help=module.HELP, description=module.HELP[:1].upper() + module.HELP[1:] + "."
        )
        module.add_arguments(sub)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """The app's settings: its flags over everything else (see `load_settings`)."""
    settings = load_settings({name: getattr(args, name) for name, _ in flag_fields()})
    if settings.avatar == "tavus" and not settings.wants_tavus():
        raise ConfigError(
            "--avatar tavus needs TAVUS_API_KEY and TAVUS_REPLICA_ID.",
            "set both (in the environment or .env), or use --avatar local",
        )
    return settings


def _misspelt_command(argv: list[str]) -> str | None:
    """'unknown command' with the nearest one, for the first word that is not a flag."""
    words = [a for a in argv if not a.startswith("-")]
    if not argv or argv[0].startswith("-") or not words or words[0] in COMMANDS:
        return None
    close = difflib.get_close_matches(words[0], list(COMMANDS), n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'?" if close else f"the commands: {', '.join(COMMANDS)}"
    return f"unknown command '{words[0]}': {hint}"


def _write_stderr(message: str) -> None:
    sys.stderr.write(redact(message))
    sys.stderr.flush()


def configure_logging(level: str) -> None:
    logger.remove()
    logger.add(
        _write_stderr,
        level=level.upper(),
        format="{time:HH:mm:ss.SSS} | {level: <7} | {message}",
        diagnose=False,  # no local variables (which may hold keys) in tracebacks
    )


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run_app(args: argparse.Namespace) -> int:
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the handler it found;
    # make that handler end the process the way Ctrl-C does: cleanly, with status 0.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    configure_logging(args.log_level)
    settings = settings_from(args)
    use_tui = not args.no_tui and sys.stdin.isatty() and sys.stdout.isatty()
    from localagent.startup import run_app  # pipecat and the models: not for commands

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_app(settings, use_tui=use_tui, log_level=args.log_level))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if (problem := _misspelt_command(argv)) is not None:
        print(f"localagent: {problem}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        if args.command is None:
            return _run_app(args)
        configure_logging("WARNING")
        status = int(_command(args.command).run(args))
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at exit
        return status
    except ConfigError as e:  # one line: the problem and its fix
        fix = f" (fix: {e.fix})" if e.fix else ""
        print(redact(f"localagent: {e.message}{fix}").replace("\n", " "), file=sys.stderr)
        return 2
    except LocalAgentError as e:
        print(redact(f"localagent: {e}"), file=sys.stderr)
        return 1
    except BrokenPipeError:  # `... | head` stopped reading: not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
