"""What every session of the process shares: settings, loaded models, the flow, the bus."""

from __future__ import annotations

from dataclasses import dataclass

from localagent.avatar.journal import TavusJournal
from localagent.avatar.portraits import Portraits
from localagent.call.engines import Engines
from localagent.events import EventBus
from localagent.flows.loader import LoadedFlow
from localagent.settings import Settings

__all__ = ["Runtime"]


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engines: Engines
    flow: LoadedFlow
    journal: TavusJournal
    bus: EventBus
    portraits: Portraits  # the photo the local avatar animates, if any
