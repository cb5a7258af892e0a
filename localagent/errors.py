"""Errors localagent reports to people, each carrying the fix.

LocalAgentError            anything we can explain in one message plus a fix
├── ConfigError            a setting that cannot work as given
├── ModelNotFoundError     a whisper model or Piper voice that is not on disk
└── FlowLoadError          a flow file or its handler module that cannot be loaded
"""

from __future__ import annotations

__all__ = ["ConfigError", "FlowLoadError", "LocalAgentError", "ModelNotFoundError"]


class LocalAgentError(Exception):
    """A failure with a human message and a suggested fix; printed without a traceback."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message


class ConfigError(LocalAgentError):
    pass


class ModelNotFoundError(LocalAgentError):
    pass


class FlowLoadError(LocalAgentError):
    pass
