"""`python -m localagent sessions replay ID`: the cockpit on a recorded session.

The same app and panels as a live call, fed from the session record instead of the bus,
one turn at a time: `n` shows up to the next turn, `p` goes back one (the panels are
rebuilt and the record fed again up to there), `a` shows it all, `b` the beginning.
Nothing runs: no server, no models, no call; the live-call keys are switched off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Static, TabbedContent

from localagent.events import Event, EventBus, SessionStarted, Turn, event_from_dict
from localagent.store import SessionRecord
from localagent.tui.app import LocalAgentApp

__all__ = ["ReplayApp", "ReplayControls", "events_of", "turn_marks"]

_LIVE_ONLY = {"next_flow", "restart_flow", "hang_up", "mute_bot"}


def events_of(record: SessionRecord) -> list[Event]:
    """The record as the events the live call published, its start first."""
    started = SessionStarted(
        record.id, flow=record.flow, avatar=record.avatar, at=record.started_at
    )
    events: list[Event] = [started]
    for row in record.events:
        event = event_from_dict({**row, "session_id": record.id})
        if event is not None:
            events.append(event)
    return events


def turn_marks(events: Sequence[Event]) -> list[int]:
    """Where each step ends: step 0 before the first turn, step k just after turn k (what
    led to it included: the LLM's inference, the tool calls), the last step everything."""
    turns = [i for i, e in enumerate(events) if isinstance(e, Turn)]
    if not turns:
        return [len(events)]
    return [turns[0], *(t + 1 for t in turns[:-1]), len(events)]


class ReplayControls:
    """The flow of the recorded session; nothing live to change."""

    def __init__(self, flow: str, nodes: list[str]) -> None:
        self._flow = (flow, nodes)

    def flow_names(self) -> list[str]:
        return [self._flow[0]]

    def current_flow(self) -> tuple[str, list[str]]:
        return self._flow

    async def switch_flow(self, name: str) -> tuple[str, list[str]]:
        return self._flow

    async def restart_flow(self) -> bool:
        return False

    async def hang_up(self) -> bool:
        return False

    async def toggle_bot_mute(self) -> bool | None:
        return None


class ReplayApp(LocalAgentApp):
    TITLE = "localagent replay"
    BINDINGS = [
        Binding("n,right", "step(1)", "Next turn"),
        Binding("p,left", "step(-1)", "Previous turn"),
        Binding("a,end", "step_to(-1)", "All"),
        Binding("b,home", "step_to(0)", "Beginning"),
    ]

    def __init__(self, record: SessionRecord, nodes: list[str], **kwargs: Any) -> None:
        self.record = record
        self.events = events_of(record)
        self.marks = turn_marks(self.events)
        self.step = 0
        self._shown = 0  # events fed so far
        super().__init__(
            url="",
            bus=EventBus(),
            controls=ReplayControls(record.flow, nodes),
            services={"recorded": f"session {record.id}, {len(self.events)} events"},
            **kwargs,
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action not in _LIVE_ONLY

    def _url_text(self) -> Text:
        text = Text(f"Replay of session {self.record.id} ", style="bold")
        turns = len(self.marks) - 1
        text.append(f"turn {self.step} of {turns}", style="bold reverse")
        end = self.record.end_reason or "not ended: live or crashed"
        text.append(f"  ({self.record.flow}, {end})   n next · p back · a all · b start")
        return text

    def on_mount(self) -> None:
        super().on_mount()
        self._feed_to(self.marks[0])

    def _feed_to(self, end: int) -> None:
        for event in self.events[self._shown : end]:
            self.show_event(event)
        self._shown = end
        self.query_one("#url", Static).update(self._url_text())

    async def action_step(self, delta: int) -> None:
        await self.action_step_to(max(0, min(len(self.marks) - 1, self.step + delta)))

    async def action_step_to(self, step: int) -> None:
        step = len(self.marks) - 1 if step < 0 else step
        if step < self.step:  # back: rebuild the panels and feed again from the start
            tab = self.query_one("#views", TabbedContent).active
            await self.recompose()
            self._fit(self.size.width, self.size.height)
            self.sessions, self.newest_session, self._shown = {}, None, 0
            self.query_one("#views", TabbedContent).active = tab
        self.step = step
        self._feed_to(self.marks[step])
