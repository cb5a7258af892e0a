"""Textual messages the TUI receives from the rest of the app."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from localagent.events import Event
from localagent.privacy.redact import redact


def log_line(record: Any) -> tuple[str, str]:
    """A loguru record as the Log panel shows it (secrets redacted), and its level."""
    text = f"{record['time']:%H:%M:%S} {record['level'].name:<7} {record['message']}"
    return redact(text), record["level"].name


class BusEvent(Message):
    """An event from the app's bus, posted into the TUI (thread-safe)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class LogLine(Message):
    def __init__(self, text: str, level: str) -> None:
        super().__init__()
        self.text = text
        self.level = level
