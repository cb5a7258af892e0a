"""Textual messages the TUI receives from the rest of the app."""

from __future__ import annotations

from textual.message import Message

from localagent.events import Event


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
