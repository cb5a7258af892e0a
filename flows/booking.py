"""Handlers for flows/booking.yaml: validation lives here, transitions in the YAML."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from pipecat.flows import TRANSITION_IN_YAML, FlowManager

MAX_PARTY = 12
OPENING = dt.time(12, 0)
LAST_SEATING = dt.time(21, 30)
CLOSED_WEEKDAY = 0  # Monday
# A refusal carries the field the YAML branches on, with a value no case matches, so the
# flow stays on the node and the LLM asks again with the reason in hand.
RETRY: dict[str, Any] = {"status": "invalid", "next": "retry"}


def _next_step(state: dict[str, Any], default: str) -> str:
    """Back to the read-back once everything is known, else on through the questions."""
    return "confirm" if {"name", "party_size", "date"} <= state.keys() else default


async def record_name(flow_manager: FlowManager, name: str) -> tuple[dict[str, Any], object]:
    """Record the name the booking is under.

    Args:
        name: The caller's name for the booking, e.g. "Maria Rossi".
    """
    state = flow_manager.state
    name = name.strip()
    if not name:
        return RETRY | {"reason": "No name was given."}, TRANSITION_IN_YAML
    state["name"] = name
    state.setdefault("today", dt.date.today().strftime("%A %d %B %Y"))
    state.setdefault("opening_hours", "Tuesday to Sunday, 12:00 to 22:00, last seating 21:30")
    return {"status": "ok", "next": _next_step(state, "party_size")}, TRANSITION_IN_YAML


async def record_party_size(
    flow_manager: FlowManager, people: int
) -> tuple[dict[str, Any], object]:
    """Record how many people the table is for.

    Args:
        people: Number of guests, including the caller.
    """
    if not isinstance(people, int) or isinstance(people, bool):
        try:
            people = int(str(people).strip())
        except ValueError:
            return (
                RETRY | {"reason": f"'{people}' is not a number of people."},
                TRANSITION_IN_YAML,
            )
    if not 1 <= people <= MAX_PARTY:
        return (
            RETRY
            | {
                "reason": f"We can seat from 1 to {MAX_PARTY} people at one table; "
                "larger groups need to call the manager."
            },
            TRANSITION_IN_YAML,
        )
    flow_manager.state["party_size"] = people
    return (
        {"status": "ok", "next": _next_step(flow_manager.state, "date_time")},
        TRANSITION_IN_YAML,
    )


def check_slot(date: str, time: str, now: dt.datetime) -> tuple[dt.datetime | None, str]:
    """The requested slot, or None and why it cannot be booked."""
    try:
        when = dt.datetime.combine(
            dt.date.fromisoformat(date.strip()), dt.time.fromisoformat(time.strip())
        )
    except ValueError:
        return None, "I need the date as year-month-day and the time as hours and minutes."
    if when <= now:
        return None, "That time has already passed."
    if when.date() > now.date() + dt.timedelta(days=90):
        return None, "We take bookings up to 90 days ahead."
    if when.weekday() == CLOSED_WEEKDAY:
        return None, "We are closed on Mondays."
    if not OPENING <= when.time() <= LAST_SEATING:
        return None, "We seat guests between 12:00 and 21:30."
    return when, ""


async def record_date_time(
    flow_manager: FlowManager, date: str, time: str
) -> tuple[dict[str, Any], object]:
    """Record the day and time of the booking.

    Args:
        date: The day, as YYYY-MM-DD.
        time: The time, as HH:MM in 24-hour time.
    """
    when, reason = check_slot(date, time, dt.datetime.now())
    if when is None:
        return {"status": "invalid", "reason": reason}, TRANSITION_IN_YAML
    state = flow_manager.state
    state["date"] = when.date().isoformat()
    state["date_spoken"] = when.strftime("%A %d %B")
    state["time"] = when.strftime("%H:%M")
    return {"status": "ok"}, TRANSITION_IN_YAML


async def confirm_booking(flow_manager: FlowManager) -> tuple[dict[str, Any], object]:
    """The caller confirmed the booking as read back."""
    state = flow_manager.state
    key = f"{state['name']}|{state['party_size']}|{state['date']}|{state['time']}"
    state["reference"] = "TL-" + hashlib.sha1(key.encode()).hexdigest()[:6].upper()
    state["confirmed"] = True
    return {"status": "booked", "reference": state["reference"]}, TRANSITION_IN_YAML


async def change_booking(flow_manager: FlowManager, change: str) -> tuple[dict[str, Any], object]:
    """The caller wants to change part of the booking.

    Args:
        change: What to change: "name", "party_size" or "date_time".
    """
    change = change.strip().lower().replace(" ", "_")
    if change not in ("name", "party_size", "date_time"):
        return (
            RETRY
            | {
                "change": "unknown",
                "reason": "I can change the name, the party size, or the day and time.",
            },
            TRANSITION_IN_YAML,
        )
    return {"status": "ok", "change": change}, TRANSITION_IN_YAML
