"""The cockpit's newer views: LLM turns, service times, session detail, tabs, zoom, mute."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pipecat.frames.frames import TTSAudioRawFrame, TTSStartedFrame
from pipecat.tests.utils import run_test
from textual.widgets import TabbedContent

from localagent.call.bot_mute import BotMute
from localagent.events import (
    EventBus,
    FunctionCalled,
    LLMExchange,
    ServiceMetric,
    SessionStarted,
    ToolResult,
    Turn,
)
from localagent.tui.app import LocalAgentApp
from localagent.tui.llm_panel import LOOP_WARNING_AT, LLMPanel, describe_exchange
from localagent.tui.metrics_panel import MetricsPanel, axis_top
from localagent.tui.session_screen import SessionScreen

SID = "c0ffee000001"
LONG_RESULT = {"status": "invalid", "reason": "party size must be 1-12; " + "x" * 300}


class Controls:
    def __init__(self) -> None:
        self.muted: bool | None = None

    def flow_names(self) -> list[str]:
        return ["booking"]

    def current_flow(self) -> tuple[str, list[str]]:
        return "booking", ["greet", "party_size"]

    async def switch_flow(self, name: str) -> tuple[str, list[str]]:
        return self.current_flow()

    async def restart_flow(self) -> bool:
        return False

    async def hang_up(self) -> bool:
        return False

    async def toggle_bot_mute(self) -> bool | None:
        self.muted = not self.muted
        return self.muted


def _app() -> tuple[LocalAgentApp, EventBus, Controls]:
    bus, controls = EventBus(), Controls()
    app = LocalAgentApp(url="http://127.0.0.1:7860/", bus=bus, controls=controls, services={})
    return app, bus, controls


def _exchange(index: int, *, reply: str = "", tool: str | None = None, **kw: Any) -> LLMExchange:
    calls = ({"id": f"c{index}", "name": tool, "arguments": {"size": "lots"}},) if tool else ()
    fields: dict[str, Any] = dict(
        index=index,
        messages=({"role": "system", "content": "Ask for the party size."},),
        tools=("record_party_size",),
        reply=reply,
        tool_calls=calls,
        tokens_in=300 + index,
        tokens_out=7,
        ttfb=0.1,
        duration=0.2,
    )
    fields.update(kw)
    return LLMExchange(SID, **fields)


async def _settle(pilot: Any) -> None:
    await pilot.pause(0.2)


async def test_a_tool_loop_is_flagged_and_every_result_shown_in_full() -> None:
    app, bus, _ = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        bus.publish(SessionStarted(SID, flow="booking", avatar="local"))
        bus.publish(Turn(SID, role="user", text="A table for lots of us."))
        for i in range(1, LOOP_WARNING_AT + 2):
            bus.publish(_exchange(i, tool="record_party_size"))
            bus.publish(
                ToolResult(
                    SID, tool_call_id=f"c{i}", name="record_party_size", result=LONG_RESULT,
                    refused=True,
                )
            )  # fmt: skip
        await _settle(pilot)
        panel = app.query_one(LLMPanel)
        summary = str(panel.query_one("#llm-summary").render())
        assert f"⚠ {LOOP_WARNING_AT + 1} LLM calls since the caller last spoke" in summary
        assert f"{LOOP_WARNING_AT + 1} tool calls ({LOOP_WARNING_AT + 1} refused)" in summary
        # Each result joined to its own call, and the detail has it whole, not cut.
        assert all(r.results == {0: (LONG_RESULT, False)} for r in panel.rows)
        detail = describe_exchange(panel.rows[0]).plain
        assert LONG_RESULT["reason"] in detail and "[refused]" in detail
        assert '"size": "lots"' in detail and "system: Ask for the party size." in detail
        # The caller speaking again clears the warning at the next inference.
        bus.publish(Turn(SID, role="user", text="Four."))
        bus.publish(_exchange(9, reply="Four, lovely."))
        await _settle(pilot)
        # The live warning goes; what happened stays in view, with its time.
        summary = str(panel.query_one("#llm-summary").render())
        assert "since the caller" not in summary
        assert "⚠ a tool loop at " in summary and f": {LOOP_WARNING_AT + 1} tool calls" in summary
        # Two refusals in a row after a turn are flagged too (the guard stops at three).
        bus.publish(Turn(SID, role="user", text="Make it twelve."))
        for i in (10, 11):
            bus.publish(_exchange(i, tool="record_party_size"))
            bus.publish(
                ToolResult(SID, tool_call_id=f"c{i}", name="x", result="error", refused=True)
            )
        await _settle(pilot)
        summary = str(panel.query_one("#llm-summary").render())
        assert "⚠ 2 tool calls refused in a row" in summary, summary


async def test_a_thinking_model_s_reasoning_is_shown_apart_with_what_it_costs() -> None:
    app, bus, _ = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        bus.publish(SessionStarted(SID, flow="helpdesk", avatar="local"))
        thought = "Okay, the user wants a table. Let me think."
        bus.publish(_exchange(1, reply="How many of you?", reasoning=thought, reasoning_s=1.4))
        bus.publish(_exchange(2, reply="Lovely.", reasoning=thought, reasoning_s=1.6))
        bus.publish(_exchange(3, reply="See you then."))
        await _settle(pilot)
        panel = app.query_one(LLMPanel)
        summary = str(panel.query_one("#llm-summary").render())
        assert "thinks before it speaks: 1.5 s a turn (2 of 3 answers)" in summary, summary
        detail = describe_exchange(panel.rows[0]).plain
        assert "reasoning (not spoken, 1.4 s)" in detail and thought in detail
        assert detail.index(thought) < detail.index("How many of you?")
        assert "reasoning" not in describe_exchange(panel.rows[2]).plain


async def test_an_interrupted_and_a_withdrawn_answer_are_marked() -> None:
    app, bus, _ = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        bus.publish(_exchange(1, reply="Let me read you the whole menu, starting with"))
        bus.publish(Turn(SID, role="assistant", text="Let me read you", interrupted=True))
        bus.publish(_exchange(2, reply="", speculative=True, complete=False, tokens_out=None))
        await pilot.press("2")
        await _settle(pilot)
        panel = app.query_one(LLMPanel)
        assert panel.rows[0].spoken_in_part
        table = panel.query_one("#llm-table")
        first, second = (table.get_row_at(i) for i in range(2))  # type: ignore[attr-defined]
        assert "[interrupted]" in str(first[-1])
        assert str(second[0]) == "2s" and "cut short" in str(second[-1]) and second[4] == "?"
        # Choosing a row shows that one in full below.
        table.focus()
        await pilot.press("up")
        await _settle(pilot)
        shown = str(panel.query_one("#llm-detail-text").render())
        assert "interrupted while spoken" in shown and "starting with" in shown


async def test_service_times_chart_has_axes_and_each_service() -> None:
    assert [axis_top(x) for x in (0.0, 0.07, 0.3, 0.5, 1.2, 7)] == [1.0, 0.1, 0.5, 0.5, 2, 10]
    app, bus, _ = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        for service, metric, seconds in [
            ("STT", "processing", 0.31),
            ("STT", "processing", 0.35),
            ("LLM", "ttfb", 0.12),
            ("TTS", "ttfb", 0.08),
        ]:
            bus.publish(ServiceMetric(SID, service=service, metric=metric, seconds=seconds))
        await pilot.press("3")
        await _settle(pilot)
        assert app.query_one("#views", TabbedContent).active == "tab-metrics"
        lines = str(app.query_one("#metrics", MetricsPanel).render()).splitlines()
        assert lines[0].split()[:3] == ["0", "0.25", "0.5"]  # the axis, in seconds
        assert lines[1].strip().startswith("├") and lines[1].strip().endswith("┤")
        stt = next(line for line in lines if line.startswith("STT"))
        assert "0.330" in stt and stt.rstrip().endswith("2")  # median 0.33 of two
        # The bars are to scale: STT's median 0.33 s against TTS's 0.08 s.
        bars = {line[:3]: line.count("█") for line in lines[2:5]}
        assert bars["STT"] > 3 * bars["TTS"] > 0


async def test_session_detail_zoom_and_mute_keys() -> None:
    app, bus, controls = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        bus.publish(SessionStarted(SID, flow="booking", avatar="local"))
        bus.publish(Turn(SID, role="user", text="Ten people."))
        bus.publish(
            FunctionCalled(
                SID,
                node="party_size",
                name="record_party_size",
                arguments={"size": 10},
                result=LONG_RESULT,
                accepted=False,
            )
        )
        await _settle(pilot)
        await pilot.press("s")
        await _settle(pilot)
        assert isinstance(app.screen, SessionScreen)
        shown = str(app.screen.query_one("#session-detail Static").render())
        assert LONG_RESULT["reason"] in shown and "caller Ten people." in shown
        await pilot.press("escape")
        await _settle(pilot)
        assert not isinstance(app.screen, SessionScreen)
        # tab to the transcript, z: it fills the screen; z again: back.
        app.query_one("#transcript").focus()
        await pilot.press("z")
        assert app.screen.maximized is app.query_one("#transcript")
        await pilot.press("z")
        assert app.screen.maximized is None
        await pilot.press("m")
        assert controls.muted is True and app.query_one("#activity").muted


@pytest.mark.parametrize(
    ("size", "flow_tab"), [((80, 24), True), ((120, 40), False), ((200, 60), False)]
)
async def test_layout_by_terminal_size(size: tuple[int, int], flow_tab: bool) -> None:
    app, _, _ = _app()
    async with app.run_test(size=size) as pilot:
        await _settle(pilot)
        tabs = app.query_one("#views", TabbedContent)
        assert app.query_one("#left").display is not flow_tab
        assert (tabs.get_tab("tab-flow").display is True) is flow_tab
        # Every latency column fits: the table is never cut on the right.
        table = app.query_one("#latency-table")
        assert table.virtual_size.width <= table.size.width, (table.virtual_size, table.size)
        if flow_tab:
            await pilot.press("4")
            assert tabs.active == "tab-flow"
        wide = size[0] >= 160
        assert app.screen.has_class("wide") is wide
        assert app.query_one("#log").display is (size[1] >= 50)


async def test_bot_mute_turns_the_voice_into_silence_of_the_same_length() -> None:
    mute = BotMute()
    mute.muted = True
    audio = bytes(range(256)) * 8
    down, _ = await run_test(
        mute,
        frames_to_send=[TTSStartedFrame(), TTSAudioRawFrame(audio, 16000, 1)],
        expected_down_frames=[TTSStartedFrame, TTSAudioRawFrame],
    )
    out = down[-1]
    assert isinstance(out, TTSAudioRawFrame)
    assert out.audio == bytes(len(audio))
    await asyncio.sleep(0)


async def test_refusals_are_shown_in_the_services_panel_with_their_fix() -> None:
    from localagent.events import RequestRefused

    app, bus, _ = _app()
    reason = (
        "Cross-origin requests are refused: http://localhost:9999 is not this server's page. "
        "To allow a front end there, start localagent with --allow-origin http://localhost:9999."
    )
    async with app.run_test(size=(120, 40)) as pilot:
        bus.publish(RequestRefused("", status=403, reason=reason))
        await _settle(pilot)
        shown = str(app.query_one("#services").render())
        assert "refused 403:" in shown and "--allow-origin http://localhost:9999" in shown


async def test_the_cockpit_keeps_the_events_of_the_last_few_sessions_only() -> None:
    from localagent.tui.app import KEPT_SESSIONS

    app, bus, _ = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        ids = [f"{i:012d}" for i in range(KEPT_SESSIONS + 3)]
        for sid in ids:
            bus.publish(SessionStarted(sid, flow="booking", avatar="local"))
            bus.publish(Turn(sid, role="user", text=f"call {sid}"))
        await _settle(pilot)
        assert list(app.sessions) == ids[-KEPT_SESSIONS:]
        assert app.newest_session == ids[-1] and len(app.sessions[ids[-1]]) == 2
