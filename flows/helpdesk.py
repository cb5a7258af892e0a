"""Handlers for flows/helpdesk.yaml."""

from pipecat.flows import TRANSITION_IN_YAML, FlowManager


async def record_issue(flow_manager: FlowManager, summary: str) -> tuple[dict[str, str], object]:
    """Record the caller's problem so the next node can address it.

    Args:
        summary: The caller's problem in a few words, e.g. "printer will not print".
    """
    flow_manager.state["issue"] = summary.strip() or "an unspecified problem"
    return {"status": "recorded", "issue": flow_manager.state["issue"]}, TRANSITION_IN_YAML
