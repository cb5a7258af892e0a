"""A program in a real terminal (tmux), for tests of the TUIs as a user runs them."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from typing import Self

__all__ = ["Tmux"]


class Tmux:
    """`command` in a detached tmux session of `size`; `with` kills it at the end."""

    def __init__(self, command: str, size: tuple[int, int] = (120, 40)) -> None:
        self.session = f"localagent-test-{os.getpid()}-{id(self):x}"
        # pytest-textual-snapshot leaves COLUMNS/LINES set, and Textual would believe them
        # over the terminal's real size.
        self.command = f"exec env -u COLUMNS -u LINES TERM=screen {command}"
        self.size = size

    def __enter__(self) -> Self:
        width, height = self.size
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.session, "-x", str(width), "-y",
             str(height), self.command],
            check=True,
        )  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.session], capture_output=True)

    def screen(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.session], capture_output=True, text=True
        ).stdout

    def wait_for(self, done: Callable[[str], bool], timeout: float = 30.0) -> str:
        """The screen once `done(screen)`, or as it is at the timeout."""
        deadline = time.monotonic() + timeout
        screen = self.screen()
        while not done(screen) and time.monotonic() < deadline:
            time.sleep(0.1)
            screen = self.screen()
        return screen

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.session, *keys], check=True)

    def alive(self) -> bool:
        found = subprocess.run(["tmux", "has-session", "-t", self.session], capture_output=True)
        return found.returncode == 0

    def wait_gone(self, timeout: float = 10.0) -> bool:
        """Whether the program ended (its session closes with it) within `timeout`."""
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        return not self.alive()
