"""The TUI's panels; each owns one concern and updates from bus events."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, RichLog, Sparkline, Static

from localagent.events import (
    LATENCY_FIGURES,
    AvatarChanged,
    CallActivity,
    EgressSeen,
    Event,
    FunctionCalled,
    NodeEntered,
    RecorderStatus,
    RequestRefused,
    ServiceFault,
    ServiceHealth,
    SessionEnded,
    SessionStarted,
    StateChanged,
    TavusAudioSent,
    Turn,
    TurnLatency,
)
from localagent.stats import summarize

__all__ = [
    "ActivityBar",
    "EgressPanel",
    "FlowPanel",
    "LatencyPanel",
    "ServicesPanel",
    "TranscriptPanel",
    "clock",
]

_STATES = {
    "listening": ("● listening", "bold cyan"),
    "thinking": ("● thinking", "bold yellow"),
    "speaking": ("● speaking", "bold green"),
    "idle": ("○ idle", "dim"),
}


def _meter(level: float, width: int = 12) -> str:
    filled = round(max(0.0, min(1.0, level)) * width)
    return "▮" * filled + "▯" * (width - filled)


class ActivityBar(Static):
    """The live call's audio levels, caller and bot, and who has the turn."""

    muted = False  # the bot's voice, as the cockpit set it

    def on_mount(self) -> None:
        self.call: str | None = None
        self.update(Text("no call", style="dim"))

    def handle(self, event: Event) -> None:
        if isinstance(event, CallActivity):
            self.call = event.call
            label, style = _STATES.get(event.state, (event.state, ""))
            text = Text("caller ", style="bold")
            text.append(_meter(event.caller), style="cyan")
            text.append("   bot ", style="bold")
            text.append(_meter(event.bot), style="green")
            text.append("   ")
            text.append(label, style=style)
            if self.muted:
                text.append("   BOT MUTED (m)", style="bold red")
            text.append(f"   call {event.call[:6]}", style="dim")
            self.update(text)
        elif isinstance(event, SessionEnded) and event.session_id == self.call:
            self.call, self.muted = None, False
            self.update(Text("no call", style="dim"))


def clock(ts: float) -> str:
    """An event's time as every panel shows it."""
    return dt.datetime.fromtimestamp(ts).strftime("%H:%M:%S")


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


class FlowPanel(Static):
    """The flow's nodes with the current one marked, its functions, state, path, last call."""

    can_focus = True  # tab reaches it, z zooms it
    ALLOW_MAXIMIZE = True

    def __init__(self, flow_name: str, nodes: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = "Flow"
        self.flow_name, self.nodes = flow_name, nodes
        self.current: str | None = None
        self.functions: tuple[str, ...] = ()
        self.state: dict[str, Any] = {}
        self.path: list[str] = []
        self.last_call: FunctionCalled | None = None

    def on_mount(self) -> None:
        self.refresh_view()

    def set_flow(self, flow_name: str, nodes: list[str]) -> None:
        self.flow_name, self.nodes = flow_name, nodes
        self.current, self.functions, self.state, self.path = None, (), {}, []
        self.last_call = None
        self.refresh_view()

    def handle(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            self.current, self.state, self.path, self.last_call = None, {}, [], None
        elif isinstance(event, NodeEntered):
            self.current, self.functions = event.node, event.functions
            self.path.append(event.node)
        elif isinstance(event, StateChanged):
            self.state = dict(event.state)
        elif isinstance(event, FunctionCalled):
            self.last_call = event
        else:
            return
        self.refresh_view()

    def refresh_view(self) -> None:
        text = Text()
        text.append(f"{self.flow_name}\n", style="bold")
        for node in self.nodes:
            if node == self.current:
                text.append(f" ▶ {node}\n", style="bold reverse")
            else:
                text.append(f"   {node}\n", style="dim" if node not in self.path else "")
        text.append("functions: ", style="bold")
        text.append(", ".join(self.functions) or "-")
        text.append("\nstate: ", style="bold")
        text.append(" ".join(f"{k}={_short(v, 24)}" for k, v in self.state.items()) or "-")
        text.append("\npath: ", style="bold")
        text.append(" > ".join(self.path[-8:]) or "-")
        if self.last_call:
            c = self.last_call
            text.append("\nlast call: ", style="bold")
            # In full, wrapped: a cut result hides what the flow decided on.
            text.append(
                f"{c.name}({_short(dict(c.arguments), 400)}) = {_short(c.result, 600)}",
                style="" if c.accepted else "red",
            )
        self.update(text)


class LatencyPanel(Vertical):
    """A row per turn, p50/p95 over turns, and a small voice-to-voice chart."""

    ALLOW_MAXIMIZE = True

    # voice-to-voice first: on a narrow terminal the table is cut on the right.
    COLUMNS = ("time", "v2v", "VAD", "STT", "turn", "LLM", "tools", "TTS", "avatar")
    FIGURES = ("voice_to_voice", *(f for f in LATENCY_FIGURES if f != "voice_to_voice"))

    LEGEND = (
        "v2v voice-to-voice · VAD stop wait · STT · turn: end-of-turn wait · LLM first token · "
        "TTS first audio · avatar to output · * the greeting, timed from connect"
    )

    def compose(self) -> ComposeResult:
        self.border_title = "Latency (s)"
        yield DataTable(id="latency-table", zebra_stripes=True, cursor_type="none")
        yield Static("no turns yet", id="latency-summary")
        yield Static("", id="latency-axis-top")
        yield Sparkline([], id="latency-chart")
        yield Static("", id="latency-axis-bottom")
        yield Static(self.LEGEND, id="latency-legend")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*self.COLUMNS)
        self.turns: list[TurnLatency] = []

    def handle(self, event: Event) -> None:
        if isinstance(event, SessionStarted):  # one call's rows apart from the last's
            table = self.query_one(DataTable)
            label = Text(f"call {event.session_id[:6]}", style="bold")
            table.add_row(label, *([Text("─" * 4, style="dim")] * (len(self.COLUMNS) - 1)))
            return
        if not isinstance(event, TurnLatency):
            return
        self.turns.append(event)
        row = [clock(event.at)] + [f"{getattr(event, f):.2f}" for f in self.FIGURES]
        if event.first_turn:
            row[0] += "*"  # the greeting, timed from connect
        table = self.query_one(DataTable)
        table.add_row(*row)
        table.scroll_end(animate=False)
        spoken = [t.voice_to_voice for t in self.turns if not t.first_turn]
        if spoken:
            s = summarize(spoken)
            p50_stt = summarize([t.stt for t in self.turns if not t.first_turn])["median"]
            self.query_one("#latency-summary", Static).update(
                f"voice-to-voice p50 {s['median']:.2f}  p95 {s['p95']:.2f}  max {s['max']:.2f}"
                f"  ({len(spoken)} turns; STT p50 {p50_stt:.2f})"
            )
            shown = spoken[-40:]
            self.query_one(Sparkline).data = shown
            # The chart's axes: its top and bottom in seconds, and which turns it spans.
            self.query_one("#latency-axis-top", Static).update(f"{max(shown):.2f} s ┐")
            first = len(spoken) - len(shown) + 1
            self.query_one("#latency-axis-bottom", Static).update(
                f"{min(shown):.2f} s ┘ v2v of turns {first}-{len(spoken)}, oldest left"
            )


class TranscriptPanel(RichLog):
    ALLOW_MAXIMIZE = True

    def on_mount(self) -> None:
        self.border_title = "Transcript"

    def handle(self, event: Event) -> None:
        if isinstance(event, Turn):
            who = Text(
                "you  " if event.role == "user" else "bot  ",
                style="bold cyan" if event.role == "user" else "bold green",
            )
            line = Text(clock(event.at) + " ") + who + Text(event.text)
            if event.interrupted:
                line.append("  [interrupted]", style="yellow")
            self.write(line)
        elif isinstance(event, SessionStarted):
            self.write(
                Text(f"{clock(event.at)} — call started ({event.avatar} avatar)", style="dim")
            )
        elif isinstance(event, SessionEnded):
            self.write(Text(f"{clock(event.at)} — call ended ({event.reason})", style="dim"))


class ServicesPanel(Static):
    """Connected browsers, the live avatar, and what each model service runs on."""

    can_focus = True  # tab reaches it, z zooms it
    ALLOW_MAXIMIZE = True

    def __init__(
        self, services: dict[str, str], fixes: dict[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.border_title = "Session and services"
        self.services = services
        self.sessions: dict[str, str] = {}  # id -> live avatar
        self.faults: list[ServiceFault] = []  # the latest few, newest last
        self.refusals: list[RequestRefused] = []  # the latest few kinds, newest last
        self.fixes: dict[str, str] = dict(fixes or {})  # service -> what to do, while down

    def on_mount(self) -> None:
        self.refresh_view()

    def handle(self, event: Event) -> None:
        if isinstance(event, ServiceFault):
            self.faults = [*self.faults, event][-3:]
        elif isinstance(event, RequestRefused):
            self.refusals = [*self.refusals, event][-3:]
        elif isinstance(event, SessionStarted):
            self.sessions[event.session_id] = event.avatar
        elif isinstance(event, AvatarChanged):
            self.sessions[event.session_id] = f"{event.live} ({event.reason})"
        elif isinstance(event, SessionEnded):
            self.sessions.pop(event.session_id, None)
        elif isinstance(event, RecorderStatus):
            self.services["recorder"] = event.description
        elif isinstance(event, ServiceHealth):
            self.services[event.service] = event.detail
            if event.ok:
                self.fixes.pop(event.service, None)
            else:
                self.fixes[event.service] = event.fix
        else:
            return
        self.refresh_view()

    def refresh_view(self) -> None:
        text = Text()
        text.append(f"browsers: {len(self.sessions)}", style="bold")
        for sid, avatar in self.sessions.items():
            text.append(f"\n  {sid}: {avatar} avatar")
        for name, value in self.services.items():
            text.append(f"\n{name}: ", style="bold")
            down = value.startswith(("DOWN", "CANNOT"))
            text.append(value, style="red" if down else "")
            if fix := self.fixes.get(name):
                text.append("\n  fix: ", style="bold")
                text.append(fix)
        for refusal in self.refusals:
            text.append(f"\n{clock(refusal.at)} refused {refusal.status}: ", style="bold yellow")
            text.append(refusal.reason)
        for fault in self.faults:
            text.append(f"\n{clock(fault.at)} {fault.service} fault: ", style="bold red")
            text.append(fault.error)  # whole: the reason is the point
        self.update(text)


class EgressPanel(Static):
    """What left the machine: TTS audio to Tavus, and any other outbound connection."""

    can_focus = True  # tab reaches it, z zooms it
    ALLOW_MAXIMIZE = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = "Egress"
        self.connections: Counter[tuple[str, int, bool, str]] = Counter()
        self.tavus_utterances = 0
        self.tavus_bytes = 0

    def on_mount(self) -> None:
        self.refresh_view()

    def handle(self, event: Event) -> None:
        if isinstance(event, EgressSeen):
            self.connections[(event.host, event.port, event.allowed, event.purpose)] += 1
        elif isinstance(event, TavusAudioSent):
            self.tavus_utterances += 1
            self.tavus_bytes += event.nbytes
        else:
            return
        self.refresh_view()

    def refresh_view(self) -> None:
        text = Text()
        text.append("to Tavus: ", style="bold")
        text.append(
            f"{self.tavus_utterances} utterances, {self.tavus_bytes / 1024:.0f} KiB of TTS audio"
        )
        text.append("\nother outbound connections: ", style="bold")
        if not self.connections:
            text.append("none", style="green")
        for (host, port, allowed, purpose), n in self.connections.most_common(6):
            text.append(f"\n  {host}:{port} ×{n} {purpose}", style="" if allowed else "bold red")
        self.update(text)
