"""Secrets never reach a log line, an error message, the TUI or the page.

Every loguru sink localagent installs writes through `redact`, which replaces each
registered secret (the Tavus API key) with a fixed mask wherever it appears, including
in tracebacks and in messages that libraries log.
"""

from __future__ import annotations

import threading

__all__ = ["MASK", "redact", "register_secret"]

MASK = "[redacted]"
_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask `value` from now on (values shorter than 6 characters are too common to mask)."""
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text
