"""What every session of the process shares: settings, loaded models, the flow, the bus."""

from __future__ import annotations

from dataclasses import dataclass, field

from localagent.avatar.journal import TavusJournal
from localagent.avatar.portraits import Portraits
from localagent.call.engines import Engines
from localagent.events import EventBus
from localagent.flows.loader import LoadedFlow
from localagent.llm.capabilities import ModelCapabilities, ModelFacts
from localagent.llm.flow_needs import FlowNeeds
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
    needs: FlowNeeds  # what the flow asks of the LLM: tools, a context window
    model: ModelFacts = field(default_factory=ModelFacts)  # the LLM's, as last probed

    def probed(self, capabilities: ModelCapabilities | None) -> None:
        """A probe of the LLM's server said this: the calls use it from now on."""
        if capabilities is not None:
            self.model.capabilities = capabilities
