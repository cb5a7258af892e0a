"""The command line as a user runs it, and a free loopback port: what tests share."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

__all__ = ["OWN_ENV_PREFIXES", "free_port", "run_cli"]

# The variables that configure localagent: a test sets the ones it means, never inherits.
OWN_ENV_PREFIXES = ("LOCALAGENT_", "TAVUS_", "OLLAMA_HOST")


def free_port() -> int:
    """A loopback TCP port nobody listens on (closed again before it is returned)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """`python -m localagent ARGS` in a subprocess, with none of the caller's own settings
    but those in `env`; stdout and stderr captured as text."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(OWN_ENV_PREFIXES)}
    return subprocess.run(
        [sys.executable, "-m", "localagent", *args],
        env={**clean, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
