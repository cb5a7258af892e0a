"""One session in full, over the cockpit: the `s` key's view of the live or last call.

Built from the session's events (the live bus, a recorded session, or an attached
server's stream alike): its transcript with interruptions, the flow's path, every function
call with its arguments and result in full, the LLM's tokens and calls, latency, the end.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from localagent.events import (
    Event,
    FunctionCalled,
    LLMExchange,
    NodeEntered,
    ServiceFault,
    SessionEnded,
    SessionStarted,
    ToolResult,
    Turn,
    TurnLatency,
)
from localagent.stats import summarize
from localagent.tui.panels import clock

__all__ = ["SessionScreen", "describe_session"]


def describe_session(session_id: str, events: Sequence[Event]) -> Text:
    text = Text()
    started = next((e for e in events if isinstance(e, SessionStarted)), None)
    ended = next((e for e in events if isinstance(e, SessionEnded)), None)
    text.append(f"session {session_id}", style="bold")
    if started:
        text.append(f"  flow {started.flow}  avatar {started.avatar}  started {clock(started.at)}")
    text.append(
        f"\nended {clock(ended.at)}: {ended.reason}" if ended else "\nlive (not ended yet)",
        style="" if ended else "bold green",
    )
    path = [e.node for e in events if isinstance(e, NodeEntered)]
    text.append("\npath: ", style="bold")
    text.append(" > ".join(path) or "-")
    timed = [e.voice_to_voice for e in events if isinstance(e, TurnLatency) and not e.first_turn]
    if timed:
        s = summarize(timed)
        text.append(
            f"\nvoice-to-voice over {len(timed)} turns: p50 {s['median']:.2f} s, "
            f"p95 {s['p95']:.2f} s, max {s['max']:.2f} s"
        )
    exchanges = [e for e in events if isinstance(e, LLMExchange)]
    if exchanges:
        cut = sum(not e.complete for e in exchanges)
        text.append(
            f"\nLLM: {len(exchanges)} inferences ({cut} cut short), tokens "
            f"{sum(e.tokens_in or 0 for e in exchanges)} in, "
            f"{sum(e.tokens_out or 0 for e in exchanges)} out"
        )
    text.append("\n\n── what happened ──", style="dim")
    # Every tool's result when the record has them (flow functions and any other), else
    # the flow's own function calls (an older record).
    tools = any(isinstance(e, ToolResult) for e in events)
    asked = {c.get("id"): c for e in events if isinstance(e, LLMExchange) for c in e.tool_calls}
    for e in events:
        if isinstance(e, Turn):
            who = "caller" if e.role == "user" else "agent "
            text.append(
                f"\n{clock(e.at)} {who} ", style="bold cyan" if e.role == "user" else "bold green"
            )
            text.append(e.text)
            if e.interrupted:
                text.append("  [interrupted]", style="yellow")
        elif isinstance(e, NodeEntered):
            text.append(f"\n{clock(e.at)} → node {e.node}", style="dim")
        elif isinstance(e, ToolResult):
            arguments = asked.get(e.tool_call_id, {}).get("arguments", {})
            text.append(f"\n{clock(e.at)} tool ", style="magenta")
            text.append(f"{e.name}({json.dumps(arguments, default=str)})")
            text.append(" = " + json.dumps(e.result, default=str), style="red" if e.refused else "")
            if e.refused:
                text.append("  [refused]", style="bold red")
        elif isinstance(e, FunctionCalled) and not tools:
            text.append(f"\n{clock(e.at)} call ", style="magenta")
            text.append(f"{e.name}({json.dumps(dict(e.arguments), default=str)})")
            text.append(
                " = " + json.dumps(e.result, default=str), style="" if e.accepted else "red"
            )
            if not e.accepted:
                text.append("  [refused]", style="bold red")
        elif isinstance(e, ServiceFault):
            text.append(f"\n{clock(e.at)} {e.service} fault: {e.error}", style="bold red")
    if ended and ended.final_state:
        text.append("\n\nfinal state: ", style="bold")
        text.append(json.dumps(dict(ended.final_state), default=str))
    return text


class SessionScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,s,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    SessionScreen { align: center middle; }
    #session-detail { width: 90%; height: 90%; border: round $accent; padding: 0 1;
                      background: $surface; }
    """

    def __init__(self, session_id: str, events: Sequence[Event]) -> None:
        super().__init__()
        self._text = describe_session(session_id, events)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="session-detail") as scroll:
            scroll.border_title = "Session (esc to close)"
            yield Static(self._text)
