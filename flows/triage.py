"""Handlers for flows/triage.yaml."""

from __future__ import annotations

import itertools
import re
from typing import Any

from pipecat.flows import TRANSITION_IN_YAML, FlowManager

# A stand-in for the billing system: what lookup_invoice can find.
INVOICES = {
    "INV-1001": {"amount": "39.99", "due": "1 December", "status": "paid"},
    "INV-1002": {
        "amount": "54.20",
        "due": "1 December",
        "status": "unpaid",
        "note": "includes a one-off installation charge of 14.21",
    },
}
_tickets = itertools.count(4201)


async def classify_issue(
    flow_manager: FlowManager, category: str, service_down: bool, summary: str
) -> tuple[dict[str, Any], object]:
    """Classify the caller's problem so the call goes to the right place.

    Args:
        category: One of "billing", "connectivity", "account" or "other".
        service_down: True if the caller has no service at all right now.
        summary: The problem in a few words.
    """
    state = flow_manager.state
    state["summary"] = summary.strip() or "no summary given"
    state["category"] = category.strip().lower()
    state["service_down"] = bool(service_down)
    state.setdefault("ticket", "none")
    if service_down:
        route = "urgent"
    elif state["category"] == "billing":
        route = "billing"
    elif state["category"] in ("connectivity", "account"):
        route = "technical"
    else:
        route = "person"
    state["route"] = route
    return {"status": "classified", "route": route}, TRANSITION_IN_YAML


async def lookup_invoice(
    flow_manager: FlowManager, invoice_number: str
) -> tuple[dict[str, Any], object]:
    """Look up an invoice so you can explain it to the caller.

    Args:
        invoice_number: The invoice number, like "INV-1001".
    """
    digits = re.sub(r"\D", "", invoice_number)
    key = f"INV-{digits}"
    invoice = INVOICES.get(key)
    if invoice is None:
        return {
            "found": False,
            "reason": f"There is no invoice {key}; ask the caller to read the number again.",
        }, TRANSITION_IN_YAML
    flow_manager.state["invoice"] = key
    return {"found": True, "invoice": key, **invoice}, TRANSITION_IN_YAML


async def create_ticket(
    flow_manager: FlowManager, callback_number: str
) -> tuple[dict[str, Any], object]:
    """Open a ticket for an engineer to call the caller back.

    Args:
        callback_number: The phone number to call back on.
    """
    digits = re.sub(r"\D", "", callback_number)
    if len(digits) < 7:
        return (
            {"status": "invalid", "reason": "That phone number is too short; ask again."},
            TRANSITION_IN_YAML,
        )
    ticket = f"T{next(_tickets)}"
    flow_manager.state.update(ticket=ticket, callback_number=digits)
    return {"status": "created", "ticket": ticket}, TRANSITION_IN_YAML


async def transfer_to_human(
    flow_manager: FlowManager, reason: str
) -> tuple[dict[str, Any], object]:
    """Pass the caller to a human colleague, at any point in the call.

    Args:
        reason: Why the caller wants or needs a person.
    """
    flow_manager.state["handoff_reason"] = reason.strip() or "caller asked for a person"
    return {"status": "transferring"}, TRANSITION_IN_YAML
