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
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Header, RichLog, Static, TabbedContent, TabPane

from localagent.events import Event, EventBus, SessionStarted
from localagent.tui.llm_panel import LLMPanel
from localagent.tui.messages import BusEvent, LogLine, log_line
from localagent.tui.metrics_panel import MetricsPanel
from localagent.tui.panels import (
    ActivityBar,
    EgressPanel,
    FlowPanel,
    LatencyPanel,
    ServicesPanel,
    TranscriptPanel,
)
from localagent.tui.session_screen import SessionScreen

__all__ = ["Controls", "LocalAgentApp"]

HELP = (
    "q quit (ends calls and Tavus conversations)   f next flow (for the next call)   "
    "r restart the live call's flow   h hang up the live call   m mute/unmute the bot   "
    "s the live (or last) session in full   1-4 latency / LLM turns / service times / flow   "
    "tab next panel   z zoom the focused panel (again: back)   l show/hide the log   "
    "? this help"
)


_LEVEL_STYLES = {"WARNING": "yellow", "ERROR": "bold red"}
COMPACT_BELOW_ROWS = 32  # shorter terminals leave out the chart and the legend
NARROW_BELOW_COLUMNS = 100  # narrower ones move the flow and services into a tab
WIDE_FROM_COLUMNS = 160  # wider ones put the transcript beside the views
TALL_FROM_ROWS = 50  # taller ones show the log and a taller chart
KEPT_SESSIONS = 4  # sessions whose events the cockpit keeps for `s`


class Controls(Protocol):
    def flow_names(self) -> list[str]: ...
    def current_flow(self) -> tuple[str, list[str]]: ...
    async def switch_flow(self, name: str) -> tuple[str, list[str]]: ...
    async def restart_flow(self) -> bool: ...
    async def hang_up(self) -> bool: ...
    async def toggle_bot_mute(self) -> bool | None: ...


class LocalAgentApp(App[None]):
    TITLE = "localagent"
    CSS = """
    Screen { layout: vertical; }
    #url { height: 1; padding: 0 1; background: $boost; }
    #activity { height: 1; padding: 0 1; }
    #top { height: 1fr; }
    #left { width: 2fr; }
    #right { width: 3fr; }
    #views { height: 1fr; }
    #views ContentSwitcher, #views TabPane { height: 1fr; padding: 0; }
    .panel { border: round $primary; padding: 0 1; }
    .panel:focus-within { border: round $accent; }
    #log { border: round $primary; padding: 0 1; }
    FlowPanel { height: 1fr; min-height: 6; }
    ServicesPanel { height: auto; max-height: 16; overflow-y: auto; }
    EgressPanel { height: auto; max-height: 6; }
    LatencyPanel, LLMPanel, MetricsPanel { height: 1fr; }
    #latency-table { height: 1fr; }
    #latency-summary { height: 1; }
    #latency-chart { height: 2; }
    #latency-axis-top, #latency-axis-bottom { height: 1; color: $text-muted; }
    #latency-legend { height: auto; color: $text-muted; }
    #llm-summary { height: auto; }
    #llm-table { height: 1fr; min-height: 4; }
    #llm-detail { height: 2fr; border-top: solid $primary-darken-2; }
    /* A short terminal (80x24): the table and the transcript first. */
    Screen.compact #latency-legend, Screen.compact #latency-axis-top,
    Screen.compact #latency-axis-bottom, Screen.compact #latency-chart { display: none; }
    Screen.compact ServicesPanel { max-height: 8; }
    /* A narrow one: the flow and the services are a tab of their own. */
    Screen.narrow #left { display: none; }
    #tab-flow FlowPanel { height: auto; min-height: 6; }
    /* A wide one: the transcript beside the views; a tall one: the log, a taller chart. */
    Screen.wide #right { layout: horizontal; width: 4fr; }
    Screen.wide #views { width: 3fr; height: 1fr; }
    Screen.wide TranscriptPanel { width: 2fr; height: 1fr; }
    Screen.tall #latency-chart { height: 5; }
    #metrics-side { display: none; height: auto; max-height: 12; }
    Screen.tall #metrics-side { display: block; }
    TranscriptPanel { height: 1fr; }
    #log { height: 10; display: none; }
    #log.shown { display: block; }
    Screen.tall #log { height: 14; }
    """
    BINDINGS = [
        Binding("q", "quit_app", "Quit"),
        Binding("f", "next_flow", "Next flow"),
        Binding("r", "restart_flow", "Restart flow"),
        Binding("h", "hang_up", "Hang up"),
        Binding("m", "mute_bot", "Mute bot"),
        Binding("s", "session_detail", "Session"),
        Binding("z", "zoom", "Zoom"),
        Binding("l", "toggle_log", "Log"),
        Binding("question_mark", "help", "Help"),
        Binding("1", "view('tab-latency')", "Latency", show=False),
        Binding("2", "view('tab-llm')", "LLM turns", show=False),
        Binding("3", "view('tab-metrics')", "Service times", show=False),
        Binding("4", "view('tab-flow')", "Flow", show=False),
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
        attached: bool = False,
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
        self.attached = attached  # to a server elsewhere (`localagent tui`): q leaves it up
        self._unsubscribe: Callable[[], None] | None = None
        self.sessions: dict[str, list[Event]] = {}  # each session's events, for its detail
        self.newest_session: str | None = None
        self._log_placed = False

    def set_url(self, url: str) -> None:
        """The address once the server is listening (it differs with --port 0)."""
        self.url = url
        self.sub_title = url
        self.query_one("#url", Static).update(self._url_text())

    def _url_text(self) -> Text:
        link = Text("Open ")
        link.append(self.url, style=f"bold link {self.url}")
        link.append(" in a browser and press Connect.   ? for keys")
        if self.attached:
            link.append("   attached: q leaves the server running", style="bold")
        return link

    def compose(self) -> ComposeResult:
        flow_name, nodes = self._controls.current_flow()
        yield Header()
        yield Static(self._url_text(), id="url")
        yield ActivityBar(id="activity", classes="handler")
        with Horizontal(id="top"):
            with Vertical(id="left"):
                yield FlowPanel(flow_name, nodes, id="flow", classes="panel")
                yield ServicesPanel(
                    dict(self._services), dict(self._fixes), id="services", classes="panel"
                )
                yield EgressPanel(id="egress", classes="panel")
                # A tall terminal has room for the service times here too.
                yield MetricsPanel(id="metrics-side", classes="panel")
            with Vertical(id="right"):
                with TabbedContent(id="views", initial="tab-latency"):
                    with TabPane("1 Latency", id="tab-latency"):
                        yield LatencyPanel(id="latency", classes="panel")
                    with TabPane("2 LLM turns", id="tab-llm"):
                        yield LLMPanel(id="llm", classes="panel")
                    with TabPane("3 Service times", id="tab-metrics"):
                        yield MetricsPanel(id="metrics", classes="panel")
                    # The left column's panels again, for a terminal too narrow for it.
                    with TabPane("4 Flow", id="tab-flow"), VerticalScroll():
                        yield FlowPanel(flow_name, nodes, id="flow-tab", classes="panel")
                        yield ServicesPanel(
                            dict(self._services),
                            dict(self._fixes),
                            id="services-tab",
                            classes="panel",
                        )
                        yield EgressPanel(id="egress-tab", classes="panel")
                yield TranscriptPanel(
                    id="transcript", wrap=True, markup=False, min_width=20, classes="panel"
                )
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
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        """The layout for the terminal's size (classes on the screen, the flow tab)."""
        self.screen.set_class(height < COMPACT_BELOW_ROWS, "compact")
        self.screen.set_class(width < NARROW_BELOW_COLUMNS, "narrow")
        self.screen.set_class(width >= WIDE_FROM_COLUMNS, "wide")
        self.screen.set_class(height >= TALL_FROM_ROWS, "tall")
        if height >= TALL_FROM_ROWS and not self._log_placed:
            self.query_one("#log").add_class("shown")  # room for it: shown, l still hides it
        self._log_placed = True
        tabs = self.query_one("#views", TabbedContent)
        if width < NARROW_BELOW_COLUMNS:
            tabs.show_tab("tab-flow")
        else:
            if tabs.active == "tab-flow":
                tabs.active = "tab-latency"
            tabs.hide_tab("tab-flow")

    def _from_bus(self, event: Event) -> None:
        # Called wherever the bus publishes (the event loop, or a socket hook's thread).
        self.post_message(BusEvent(event))

    def on_bus_event(self, message: BusEvent) -> None:
        self.show_event(message.event)

    def show_event(self, event: Event) -> None:
        """Every panel sees every event; each takes what it shows."""
        if event.session_id:
            self.sessions.setdefault(event.session_id, []).append(event)
            if isinstance(event, SessionStarted):
                self.newest_session = event.session_id
                # `s` shows the newest; a few more cover calls side by side. A server that
                # runs for weeks must not keep every call's contexts in the cockpit.
                while len(self.sessions) > KEPT_SESSIONS:
                    del self.sessions[next(iter(self.sessions))]
        for panel in self.query(".panel, .handler"):
            panel.handle(event)  # type: ignore[attr-defined]

    def on_log_line(self, message: LogLine) -> None:
        style = _LEVEL_STYLES.get(message.level, "")
        self.query_one("#log", RichLog).write(Text(message.text, style=style))

    def log_sink(self, message: Any) -> None:
        """A loguru sink that shows records in the Log panel."""
        self.post_message(LogLine(*log_line(message.record)))

    async def action_quit_app(self) -> None:
        if not self.attached:
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

    async def action_next_flow(self) -> None:
        names = self._controls.flow_names()
        current, _ = self._controls.current_flow()
        if not names:
            return
        following = names[(names.index(current) + 1) % len(names)] if current in names else names[0]
        try:
            name, nodes = await self._controls.switch_flow(following)
        except Exception as e:
            self.notify(str(e), title="Cannot switch flow", severity="error")
            return
        for panel in self.query(FlowPanel):
            panel.set_flow(name, nodes)
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

    def action_view(self, tab: str) -> None:
        tabs = self.query_one("#views", TabbedContent)
        if tab == "tab-flow" and not self.screen.has_class("narrow"):
            self.query_one("#flow").focus()  # the flow is on screen already, at the left
            return
        tabs.active = tab

    def action_zoom(self) -> None:
        """The focused panel fills the screen (tab moves the focus), or back again."""
        if self.screen.maximized is not None:
            self.screen.minimize()
        elif self.focused is not None:
            self.screen.maximize(self.focused)
        else:
            self.notify("Press tab to focus a panel first, then z.")

    async def action_mute_bot(self) -> None:
        muted = await self._controls.toggle_bot_mute()
        if muted is None:
            self.notify("No live call to mute.", severity="warning")
            return
        self.query_one(ActivityBar).muted = muted
        self.notify(
            "The bot is muted: the caller hears silence." if muted else "The bot is unmuted."
        )

    def action_session_detail(self) -> None:
        if self.newest_session is None:
            self.notify("No session yet.", severity="warning")
            return
        self.push_screen(SessionScreen(self.newest_session, self.sessions[self.newest_session]))
