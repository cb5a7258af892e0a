"""What a flow asks of its model, and whether the model can give it.

A flow whose nodes offer functions needs a model that takes tools: Ollama answers every
request of one that does not with 400 "... does not support tools", so a call would only
ever hear an apology. And the flow's largest request must fit the model's context window
with room to spare (`context_budget`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from localagent.llm.capabilities import ModelCapabilities
from localagent.llm.context_budget import FlowRequest, budget_warning, flow_largest_request

__all__ = ["FlowNeeds", "flow_needs", "notes_for", "refuses_tools"]


@dataclass(frozen=True)
class FlowNeeds:
    flow: str
    tools: bool  # some node (or every node, globally) offers functions
    largest: FlowRequest


def flow_needs(name: str, flow: Any) -> FlowNeeds:
    """`flow` is a `pipecat.flows.Flow`."""
    tools = bool(flow.global_functions) or any(
        flow.node(node).get("functions") for node in flow.config.nodes
    )
    return FlowNeeds(flow=name, tools=tools, largest=flow_largest_request(flow))


def refuses_tools(needs: FlowNeeds | None, capabilities: ModelCapabilities | None) -> bool:
    """The flow needs tools and the server says the model takes none."""
    return bool(needs and needs.tools and capabilities and capabilities.tools is False)


def notes_for(
    needs: FlowNeeds | None, capabilities: ModelCapabilities | None, model: str, ollama: bool
) -> tuple[str, ...]:
    """Warnings that do not stop a call: the context budget."""
    if needs is None or capabilities is None:
        return ()
    warning = budget_warning(needs.largest.tokens, capabilities.context_tokens, model, ollama)
    return (warning,) if warning else ()
