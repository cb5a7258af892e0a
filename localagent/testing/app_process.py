"""Start `python -m localagent` as a subprocess on a free port and stop it afterwards."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AppProcess", "fetch_status", "run_app", "wait_exit"]

_READY = re.compile(r"localagent ready: open (https?://\S+?)/?\s*$")


@dataclass
class AppProcess:
    proc: subprocess.Popen[str]
    url: str = ""
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def fetch_status(url: str) -> dict[str, Any]:
    """The server's `/api/status` (blocking; loopback needs no token)."""
    with urllib.request.urlopen(url.rstrip("/") + "/api/status", timeout=10) as r:
        return dict(json.load(r))


def _pump(app: AppProcess, ready: threading.Event) -> None:
    assert app.proc.stderr is not None
    for line in app.proc.stderr:
        app.lines.append(line.rstrip("\n"))
        m = _READY.search(line)
        if m:
            app.url = m.group(1)
            ready.set()
    ready.set()


@contextmanager
def run_app(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
    fake_daily: bool = False,
    faults: bool = False,
    entry: list[str] | None = None,
) -> Iterator[AppProcess]:
    """Run the app with `args`; yields once it prints its URL (or exits).

    `fake_daily` runs it with daily-python replaced by `localagent.testing.fake_daily`;
    `faults` with the model failures `localagent.testing.faults` reads from the environment.
    `entry` replaces `-m localagent` (a script that prints the same ready line).
    """
    entry = entry or ["-m", "localagent"]
    installs = [m for m, on in (("fake_daily", fake_daily), ("faults", faults)) if on]
    if installs:
        setup = "; ".join(
            f"from localagent.testing.{m} import install_from_env as i; i()" for m in installs
        )
        entry = [
            "-c",
            "import sys; from localagent.privacy.egress import quiet_library_telemetry; "
            f"quiet_library_telemetry(); {setup}; "
            "from localagent.cli import main; sys.exit(main())",
        ]
    cmd = [sys.executable, *entry, "--no-tui", "--port", "0", *args]
    # Never write into the user's own data directory from a test run.
    scratch = tempfile.mkdtemp(prefix="localagent-test-")
    full_env = {**os.environ, "LOCALAGENT_DATA_DIR": scratch, **(env or {})}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=full_env
    )
    app = AppProcess(proc)
    ready = threading.Event()
    pump = threading.Thread(target=_pump, args=(app, ready), daemon=True)
    pump.start()
    try:
        ready.wait(timeout)
        if not app.url:
            # Its output ended without the ready line: it is exiting; let it finish.
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                raise TimeoutError(
                    f"localagent did not become ready in {timeout}s:\n{app.output}"
                ) from None
        yield app
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        pump.join(5)


def wait_exit(app: AppProcess, timeout: float = 60.0) -> int:
    """Wait for a run that is expected to stop by itself; returns its exit code."""
    deadline = time.monotonic() + timeout
    while app.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if app.proc.poll() is None:
        raise TimeoutError(f"localagent still running after {timeout}s:\n{app.output}")
    time.sleep(0.1)
    return app.proc.returncode
