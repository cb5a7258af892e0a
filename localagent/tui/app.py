"""`python -m localagent` in a terminal: the server runs inside this Textual app.

The app listens only to the event bus (and the log); what it can change goes through the
small `Controls` interface the server side implements.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, RichLog, Static

from localagent.events import Event, EventBus
from localagent.tui.messages import BusEvent, LogLine, log_line
from localagent.tui.panels import (
    ActivityBar,
    EgressPanel,
    FlowPanel,
    LatencyPanel,
    ServicesPanel,
    TranscriptPanel,
)

__all__ = ["Controls", "LocalAgentApp"]

HELP = (
    "q quit (ends calls and Tavus conversations)   f next flow (for the next call)   "
    "r restart the live call's flow   h hang up the live call   l show/hide the log   "
    "? this help"
)


_LEVEL_STYLES = {"WARNING": "yellow", "ERROR": "bold red"}
COMPACT_BELOW_ROWS = 32  # shorter terminals leave out the chart and the legend


class Controls(Protocol):
    def flow_names(self) -> list[str]: ...
    def current_flow(self) -> tuple[str, list[str]]: ...
    def switch_flow(self, name: str) -> tuple[str, list[str]]: ...
    async def restart_flow(self) -> bool: ...
    async def hang_up(self) -> bool: ...


class LocalAgentApp(App[None]):
    TITLE = "localagent"
    CSS = """
    Screen { layout: vertical; }
    #url { height: 1; padding: 0 1; background: $boost; }
    #activity { height: 1; padding: 0 1; }
    #top { height: 1fr; }
    #left { width: 2fr; }
    #right { width: 3fr; }
    FlowPanel, ServicesPanel, EgressPanel, LatencyPanel, TranscriptPanel, #log {
        border: round $primary; padding: 0 1;
    }
    FlowPanel { height: 1fr; min-height: 6; }
    ServicesPanel { height: auto; max-height: 16; overflow-y: auto; }
    EgressPanel { height: auto; max-height: 6; }
    LatencyPanel { height: 1fr; min-height: 8; }
    #latency-table { height: 1fr; }
    #latency-summary { height: 1; }
    #latency-chart { height: 2; }
    #latency-axis-top, #latency-axis-bottom { height: 1; color: $text-muted; }
    #latency-legend { height: auto; color: $text-muted; }
    /* A short terminal (80x24): the table and the transcript first. */
    Screen.compact #latency-legend, Screen.compact #latency-axis-top,
    Screen.compact #latency-axis-bottom, Screen.compact #latency-chart { display: none; }
    Screen.compact ServicesPanel { max-height: 8; }
    TranscriptPanel { height: 1fr; }
    #log { height: 10; display: none; }
    #log.shown { display: block; }
    """
    BINDINGS = [
        Binding("q", "quit_app", "Quit"),
        Binding("f", "next_flow", "Next flow"),
        Binding("r", "restart_flow", "Restart flow"),
        Binding("h", "hang_up", "Hang up"),
        Binding("l", "toggle_log", "Log"),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(
        self,
        *,
        url: str,
        bus: EventBus,
        controls: Controls,
        services: dict[str, str],
        fixes: dict[str, str] | None = None,
        early_log: list[tuple[str, str]] | None = None,
        serve: Callable[[], Awaitable[None]] | None = None,
        shutdown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__()
        self.url = url
        self._bus = bus
        self._controls = controls
        self._services = services
        self._fixes = fixes or {}
        self._early_log = early_log if early_log is not None else []
        self._serve = serve
        self._on_quit = shutdown
        self._unsubscribe: Callable[[], None] | None = None

    def set_url(self, url: str) -> None:
        """The address once the server is listening (it differs with --port 0)."""
        self.url = url
        self.sub_title = url
        self.query_one("#url", Static).update(self._url_text())

    def _url_text(self) -> Text:
        link = Text("Open ")
        link.append(self.url, style=f"bold link {self.url}")
        link.append(" in a browser and press Connect.   ? for keys")
        return link

    def compose(self) -> ComposeResult:
        flow_name, nodes = self._controls.current_flow()
        yield Header()
        yield Static(self._url_text(), id="url")
        yield ActivityBar(id="activity")
        with Horizontal(id="top"):
            with Vertical(id="left"):
                yield FlowPanel(flow_name, nodes, id="flow")
                yield ServicesPanel(dict(self._services), dict(self._fixes), id="services")
                yield EgressPanel(id="egress")
            with Vertical(id="right"):
                yield LatencyPanel(id="latency")
                yield TranscriptPanel(id="transcript", wrap=True, markup=False, min_width=20)
        yield RichLog(id="log", wrap=True, max_lines=2000, min_width=20)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.url
        log = self.query_one("#log", RichLog)
        for text, level in self._early_log:  # what was logged before the TUI was up
            log.write(Text(text, style=_LEVEL_STYLES.get(level, "")))
        self._unsubscribe = self._bus.subscribe(self._from_bus)
        if self._serve is not None:
            self.run_worker(self._serve(), name="server", exclusive=True)

    def on_resize(self, event: events.Resize) -> None:
        self.screen.set_class(event.size.height < COMPACT_BELOW_ROWS, "compact")

    def _from_bus(self, event: Event) -> None:
        # Called wherever the bus publishes (the event loop, or a socket hook's thread).
        self.post_message(BusEvent(event))

    def on_bus_event(self, message: BusEvent) -> None:
        for panel in ("#activity", "#flow", "#latency", "#transcript", "#services", "#egress"):
            self.query_one(panel).handle(message.event)  # type: ignore[attr-defined]

    def on_log_line(self, message: LogLine) -> None:
        style = _LEVEL_STYLES.get(message.level, "")
        self.query_one("#log", RichLog).write(Text(message.text, style=style))

    def log_sink(self, message: Any) -> None:
        """A loguru sink that shows records in the Log panel."""
        self.post_message(LogLine(*log_line(message.record)))

    async def action_quit_app(self) -> None:
        self.notify("Stopping: ending calls…", timeout=2)
        if self._on_quit is not None:
            await self._on_quit()
        if self._unsubscribe:
            self._unsubscribe()
        self.exit()

    def action_toggle_log(self) -> None:
        self.query_one("#log").toggle_class("shown")

    def action_help(self) -> None:
        self.notify(HELP, title="Keys", timeout=8)

    def action_next_flow(self) -> None:
        names = self._controls.flow_names()
        current, _ = self._controls.current_flow()
        if not names:
            return
        following = names[(names.index(current) + 1) % len(names)] if current in names else names[0]
        try:
            name, nodes = self._controls.switch_flow(following)
        except Exception as e:
            self.notify(str(e), title="Cannot switch flow", severity="error")
            return
        self.query_one(FlowPanel).set_flow(name, nodes)
        self.notify(f"The next call uses the flow '{name}'.")

    async def action_restart_flow(self) -> None:
        if await self._controls.restart_flow():
            self.notify("Restarted the live call's flow from its first node.")
        else:
            self.notify("No live call to restart.", severity="warning")

    async def action_hang_up(self) -> None:
        if await self._controls.hang_up():
            self.notify("Hung up the live call.")
        else:
            self.notify("No live call to hang up.", severity="warning")
