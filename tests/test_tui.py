"""The TUI: driven by Textual's Pilot over a real call, snapshots, and a real terminal."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from textual.widgets import DataTable, RichLog

from localagent.events import (
    CallActivity,
    EgressSeen,
    EventBus,
    FunctionCalled,
    LLMExchange,
    NodeEntered,
    ServiceFault,
    ServiceHealth,
    ServiceMetric,
    SessionEnded,
    SessionStarted,
    StateChanged,
    Turn,
    TurnLatency,
)
from localagent.settings import Settings
from localagent.startup import build_state, make_server, make_tui
from localagent.testing.caller import Caller
from localagent.testing.fake_ollama import Reply, ThreadedFakeOllama, ToolCall
from localagent.testing.terminal import Tmux
from localagent.tui.app import LocalAgentApp
from localagent.tui.llm_panel import LLMPanel
from localagent.tui.metrics_panel import MetricsPanel
from localagent.tui.panels import FlowPanel, LatencyPanel


def _text(log: RichLog) -> str:
    return "\n".join(strip.text for strip in log.lines)


async def test_tui_follows_a_real_call(
    fake_ollama: ThreadedFakeOllama, printer_utterance: np.ndarray, tmp_path: Path
) -> None:
    fake_ollama.server.replies.extend(
        [
            Reply(text="Hi, I am Ada from the help desk. What can I do for you?"),
            Reply(tool_calls=(ToolCall("record_issue", {"summary": "printer will not print"}),)),
            Reply(text="Try switching the printer off and on again."),
        ]
    )
    settings = Settings(port=0, ollama_host=fake_ollama.url, data_dir=tmp_path, avatar="local")
    state, recorder = await build_state(settings)
    server, url = make_server(state)
    app = make_tui(state, server, url)
    activity: list[CallActivity] = []
    state.runtime.bus.subscribe(
        lambda e: activity.append(e) if isinstance(e, CallActivity) else None
    )
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(200):
            if not app.url.endswith(":0/"):
                break
            await pilot.pause(0.05)
        async with Caller(app.url.rstrip("/")) as caller:
            await caller.wait_for_voice(since=0.0, timeout=60)
            await caller.wait_for_silence(quiet_s=1.0, timeout=30)
            ended = await caller.say(printer_utterance)
            await caller.wait_for_voice(since=ended + 0.05, timeout=60)
            await caller.wait_for_silence(quiet_s=1.0, timeout=30)
            await pilot.pause(0.5)
            flow = app.query_one(FlowPanel)
            assert flow.current == "help" and flow.path == ["greet", "help"]
            assert flow.state == {"issue": "printer will not print"}
            assert flow.last_call is not None and flow.last_call.name == "record_issue"
            transcript = _text(app.query_one("#transcript", RichLog))
            assert "printer" in transcript.lower() and "Ada from the help desk" in transcript
            table = app.query_one("#latency-table", DataTable)
            rows = [table.get_row_at(i) for i in range(table.row_count)]
            turns = [r for r in rows if not str(r[0]).startswith("call ")]
            assert len(turns) == 2 and len(rows) == 3  # the call's line, greeting, turn
            assert float(turns[-1][1]) > 0.2  # voice-to-voice of the spoken turn, in seconds
            # The turn called a tool: its time is in the tools column, not the avatar's.
            timed = app.query_one(LatencyPanel).turns[-1]
            assert timed.tools > 0.0 and timed.avatar < 0.1, timed
            summary = str(app.query_one("#latency-summary").render())
            assert "voice-to-voice p50" in summary
            # The meters heard both sides, and the turn went listening, thinking, speaking.
            states = [a.state for a in activity]
            assert {"listening", "thinking", "speaking"} <= set(states), set(states)
            assert max(a.caller for a in activity) > 0.4 and max(a.bot for a in activity) > 0.4
            assert states.index("thinking", states.index("listening")) < len(states) - 1
            bar = str(app.query_one("#activity").render())
            assert bar.startswith("caller ") and " bot " in bar and "call " in bar
            # Each inference in the LLM turns view: the greeting, the tool call, the answer,
            # with the fake server's reported tokens and the tool's result joined in.
            # A speculative ask withdrawn (it wanted a tool) shows as cut short.
            llm = app.query_one(LLMPanel)
            done = [r for r in llm.rows if r.exchange.complete]
            cut = [r for r in llm.rows if not r.exchange.complete]
            assert all(r.exchange.speculative for r in cut), [r.exchange for r in cut]
            assert [bool(r.exchange.tool_calls) for r in done] == [False, True, False]
            assert all(r.exchange.tokens_in and r.exchange.tokens_out for r in done)
            tool_row = done[1]
            assert tool_row.results[0][1], tool_row.results  # joined in, accepted
            assert tool_row.exchange.tool_calls[0]["arguments"] == {
                "summary": "printer will not print"
            }
            sent = [m["content"] for m in done[2].exchange.messages if m["role"] == "user"]
            assert any("printer" in str(c).lower() for c in sent)
            # pipecat's per-service metrics reached the service times view.
            metrics = app.query_one("#metrics", MetricsPanel).values
            assert ("LLM", "ttfb") in metrics and ("TTS", "ttfb") in metrics, metrics.keys()
            # m: the live call's bot is muted (its audio becomes silence), m again: back.
            [live] = state.calls.live()
            await pilot.press("m")
            assert live.bot_muted and "BOT MUTED" in str(app.query_one("#activity").render())
            await pilot.press("m")
            assert not live.bot_muted
            # r: the live call goes back to the flow's first node, state emptied.
            await pilot.press("r")
            for _ in range(50):
                if flow.current == "greet":
                    break
                await pilot.pause(0.1)
            assert flow.path == ["greet", "help", "greet"]
            # h: the live call ends through its own hang_up, and its slot is free.
            [call] = state.calls.live()
            await pilot.press("h")
            for _ in range(100):
                if caller.connection_state in ("closed", "failed") and not len(state.calls):
                    break
                await pilot.pause(0.1)
            assert call.end_reason == "hung up from the TUI" and call.state == "ended"
            assert caller.connection_state in ("closed", "failed")
        await pilot.press("q")
        await pilot.pause(0.5)
    assert server.should_exit
    if recorder is not None:
        recorder.close()


class FakeControls:
    def __init__(self) -> None:
        self.flow = ("booking", ["greet", "party_size", "date_time", "confirm", "goodbye"])

    def flow_names(self) -> list[str]:
        return ["booking", "helpdesk"]

    def current_flow(self) -> tuple[str, list[str]]:
        return self.flow

    async def switch_flow(self, name: str) -> tuple[str, list[str]]:
        self.flow = (name, ["greet", "help", "goodbye"])
        return self.flow

    async def restart_flow(self) -> bool:
        return False

    async def hang_up(self) -> bool:
        return False

    async def toggle_bot_mute(self) -> bool | None:
        return None


def _demo_events(bus: EventBus) -> None:
    """A recorded-looking call at fixed times, so snapshots do not change."""
    t0 = 1_760_000_000.0
    sid = "a1b2c3d4e5f6"
    events: list[Any] = [
        SessionStarted(sid, flow="booking", avatar="local", at=t0),
        NodeEntered(sid, node="greet", previous=None, functions=("record_name",), at=t0 + 0.1),
        Turn(
            sid,
            role="assistant",
            text="Hello, Trattoria Locale. What name is the booking under?",
            at=t0 + 2,
        ),
        TurnLatency(
            sid,
            vad_wait=0,
            stt=0,
            turn_wait=0,
            llm=0.21,
            tools=0,
            tts=0.31,
            avatar=0.02,
            voice_to_voice=0.54,
            first_turn=True,
            at=t0 + 2,
        ),
        Turn(sid, role="user", text="A table for four under Maria, please.", at=t0 + 6),
        LLMExchange(
            sid,
            index=2,
            messages=(
                {"role": "system", "content": "You take bookings for Trattoria Locale."},
                {"role": "assistant", "content": "Hello, Trattoria Locale."},
                {"role": "user", "content": "A table for four under Maria, please."},
            ),
            tools=("record_name",),
            reply="",
            tool_calls=({"id": "call_1", "name": "record_name", "arguments": {"name": "Maria"}},),
            tokens_in=412,
            tokens_out=18,
            ttfb=0.14,
            duration=0.31,
            at=t0 + 6.4,
        ),
        ServiceMetric(sid, service="STT", metric="processing", seconds=0.34, at=t0 + 6),
        ServiceMetric(sid, service="LLM", metric="ttfb", seconds=0.14, at=t0 + 6.2),
        ServiceMetric(sid, service="TTS", metric="ttfb", seconds=0.08, at=t0 + 6.8),
        FunctionCalled(
            sid,
            node="greet",
            name="record_name",
            arguments={"name": "Maria"},
            result={"status": "ok", "next": "party_size"},
            at=t0 + 6.5,
        ),
        StateChanged(sid, state={"name": "Maria", "today": "Tuesday"}, at=t0 + 6.5),
        NodeEntered(
            sid, node="party_size", previous="greet", functions=("record_party_size",), at=t0 + 6.6
        ),
        TurnLatency(
            sid,
            vad_wait=0.2,
            stt=0.34,
            turn_wait=0.27,
            llm=0.01,
            tools=0.02,
            tts=0.08,
            avatar=0.01,
            voice_to_voice=0.93,
            at=t0 + 7,
        ),
        LLMExchange(
            sid,
            index=3,
            messages=({"role": "system", "content": "Ask for the party size."},),
            tools=("record_party_size",),
            reply="Thank you Maria. How many people?",
            tool_calls=(),
            tokens_in=455,
            tokens_out=9,
            ttfb=0.12,
            duration=0.2,
            at=t0 + 6.9,
        ),
        ServiceMetric(sid, service="LLM", metric="ttfb", seconds=0.12, at=t0 + 6.9),
        ServiceMetric(sid, service="TTS", metric="ttfb", seconds=0.09, at=t0 + 7),
        Turn(sid, role="assistant", text="Thank you Maria. How many people?", at=t0 + 7),
        TurnLatency(
            sid,
            vad_wait=0.2,
            stt=0.41,
            turn_wait=0.19,
            llm=0.02,
            tools=0,
            tts=0.09,
            avatar=0.01,
            voice_to_voice=0.92,
            at=t0 + 12,
        ),
        EgressSeen(
            "", host="203.0.113.9", port=443, allowed=False, purpose="unexpected", at=t0 + 13
        ),
    ]
    for event in events:
        bus.publish(event)


def _demo_app() -> tuple[LocalAgentApp, EventBus]:
    bus = EventBus()
    app = LocalAgentApp(
        url="http://127.0.0.1:7860/",
        bus=bus,
        controls=FakeControls(),
        services={
            "LLM": "Ollama llama3.2:3b @ 127.0.0.1:11434",
            "STT": "whisper tiny.en cpu/int8",
            "TTS": "Piper en_US-joe-medium",
            "avatar": "local",
        },
    )
    return app, bus


@pytest.fixture(autouse=False)
def utc() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.mark.parametrize("view", ["1", "2", "3"])  # latency, LLM turns, service times
@pytest.mark.parametrize("size", [(120, 40), (80, 24), (200, 60)])
def test_main_screen_snapshot(
    snap_compare: Any, size: tuple[int, int], view: str, utc: None
) -> None:
    app, bus = _demo_app()

    async def feed(pilot: Any) -> None:
        _demo_events(bus)
        await pilot.press(view)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=feed)


async def test_keys_switch_flow_and_toggle_log() -> None:
    app, bus = _demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f")
        await pilot.pause(0.1)
        assert app.query_one(FlowPanel).flow_name == "helpdesk"
        log = app.query_one("#log")
        assert not log.display
        await pilot.press("l")
        await pilot.pause(0.1)
        assert log.display
        await pilot.press("question_mark")
        await pilot.press("q")


async def test_faults_and_blocked_connections_are_shown() -> None:
    app, bus = _demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        bus.publish(
            ServiceFault("s1", service="LLM", error="Error during completion: Request timed out.")
        )
        bus.publish(
            EgressSeen(
                "",
                host="huggingface.co (18.1.2.3)",
                port=443,
                allowed=False,
                purpose="blocked: not in the egress policy",
            )
        )
        await pilot.pause(0.2)
        services = str(app.query_one("#services").render())
        assert "LLM fault: Error during completion: Request timed out." in services
        egress = str(app.query_one("#egress").render())
        assert "huggingface.co (18.1.2.3):443 ×1 blocked: not in the egress policy" in egress


TMUX = shutil.which("tmux")


@pytest.mark.skipif(
    not TMUX and not os.environ.get("LOCALAGENT_REQUIRE_TMUX"), reason="tmux is not installed"
)
def test_runs_in_tmux_and_quits_cleanly(fake_ollama: ThreadedFakeOllama, tmp_path: Path) -> None:
    command = (
        f"LOCALAGENT_DATA_DIR={tmp_path} {sys.executable} -m localagent --port 0 "
        f"--ollama-host {fake_ollama.url}"
    )
    with Tmux(command, size=(100, 30)) as terminal:
        screen = terminal.wait_for(
            lambda s: "Latency" in s and "http://127.0.0.1:" in s and ":0/" not in s
        )
        assert "Transcript" in screen and "Flow" in screen, screen
        terminal.keys("q")
        # The session closes when the process (exec'd in it) has exited.
        assert terminal.wait_gone(), "localagent still running after q"


async def test_services_follow_the_llms_health_with_the_fix_in_full() -> None:
    app, bus = _demo_app()
    fix = "start Ollama (`ollama serve`) or set OLLAMA_HOST; then `ollama pull llama3.2:3b`"
    async with app.run_test(size=(120, 40)) as pilot:
        down = "DOWN Ollama llama3.2:3b @ 127.0.0.1:11434: Ollama is not reachable."
        bus.publish(ServiceHealth("", service="LLM", ok=False, detail=down, fix=fix))
        await pilot.pause(0.2)
        services = app.query_one("#services")
        shown = str(services.render())
        assert down in shown and f"fix: {fix}" in shown
        assert services.region.height >= shown.count("\n") + 3  # nothing cut off at 120x40
        bus.publish(
            ServiceHealth("", service="LLM", ok=True, detail="Ollama llama3.2:3b @ 127.0.0.1:11434")
        )
        await pilot.pause(0.2)
        shown = str(services.render())
        assert "DOWN" not in shown and "fix:" not in shown and "LLM: Ollama llama3.2:3b" in shown


async def test_ollama_coming_back_is_published(fake_ollama: ThreadedFakeOllama) -> None:
    from localagent.events import EventBus as Bus
    from localagent.ollama_status import OllamaStatus, watch_ollama

    bus, seen = Bus(), []
    bus.subscribe(seen.append)
    was_down = OllamaStatus(ok=False, problem="Ollama is not reachable.")
    model = fake_ollama.server.models[0]
    task = asyncio.create_task(watch_ollama(fake_ollama.url, model, bus, was_down, interval_s=0.1))
    for _ in range(50):
        if seen:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # and only once: the health did not change again
    task.cancel()
    assert len(seen) == 1 and seen[0].ok and seen[0].service == "LLM", seen


async def test_the_log_panel_starts_with_what_start_up_logged() -> None:
    app = LocalAgentApp(
        url="http://127.0.0.1:7860/",
        bus=EventBus(),
        controls=FakeControls(),
        services={},
        early_log=[
            ("12:00:00 INFO    flow 'helpdesk' loaded", "INFO"),
            ("12:00:01 WARNING x", "WARNING"),
        ],
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("l")
        await pilot.pause(0.1)
        assert "flow 'helpdesk' loaded" in _text(app.query_one("#log", RichLog))


async def test_each_calls_latency_rows_start_under_its_own_line() -> None:
    app, bus = _demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        _demo_events(bus)
        bus.publish(SessionStarted("ffeeddccbbaa", flow="booking", avatar="local"))
        await pilot.pause(0.3)
        table = app.query_one("#latency-table", DataTable)
        labels = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert labels[0] == "call a1b2c3" and labels[-1] == "call ffeedd", labels
        assert labels[1].endswith("*")  # the greeting, explained in the legend
        assert "* the greeting" in str(app.query_one("#latency-legend").render())
        assert "s ┘ v2v of turns 1-2" in str(app.query_one("#latency-axis-bottom").render())


async def test_the_activity_bar_shows_levels_and_who_has_the_turn() -> None:
    app, bus = _demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        bus.publish(CallActivity("", call="a1b2c3d4e5f6", caller=0.5, bot=0.0, state="listening"))
        await pilot.pause(0.1)
        bar = str(app.query_one("#activity").render())
        assert "caller ▮▮▮▮▮▮▯▯▯▯▯▯" in bar and "bot ▯▯▯▯" in bar and "● listening" in bar
        bus.publish(CallActivity("", call="a1b2c3d4e5f6", caller=0.0, bot=1.0, state="speaking"))
        await pilot.pause(0.1)
        assert "bot ▮▮▮▮▮▮▮▮▮▮▮▮" in str(app.query_one("#activity").render())
        bus.publish(SessionEnded("a1b2c3d4e5f6", reason="hung up"))
        await pilot.pause(0.1)
        assert str(app.query_one("#activity").render()) == "no call"
