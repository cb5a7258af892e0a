"""What the web server holds for the life of the process: the runtime, the calls, the
tokens and the tasks it started. The server, the controls and the cockpit share it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from localagent.call.registry import CallRegistry
from localagent.ollama_status import OllamaStatus
from localagent.recorder import Recorder
from localagent.runtime import Runtime
from localagent.settings import Settings
from localagent.web.guard import new_token
from localagent.web.limits import AddressLimits
from localagent.web.tls import TlsFiles

__all__ = ["AppState"]


@dataclass
class AppState:
    runtime: Runtime
    ollama: OllamaStatus | None = None
    calls: CallRegistry = field(init=False)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    token: str | None = None  # required of every request when bound beyond loopback
    cockpit_token: str = field(default_factory=new_token)  # for `localagent tui` to attach
    tls: TlsFiles | None = None  # HTTPS: always beyond loopback
    recorder: Recorder | None = None
    limits: AddressLimits | None = None  # per-address limits: only beyond loopback

    def __post_init__(self) -> None:
        self.calls = CallRegistry(self.runtime.settings.max_sessions)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings
