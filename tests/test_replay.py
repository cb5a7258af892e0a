"""`sessions replay`: the cockpit on a recorded session, stepped turn by turn."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from textual.widgets import DataTable, RichLog

from localagent.events import (
    Event,
    FunctionCalled,
    LLMExchange,
    NodeEntered,
    ServiceMetric,
    SessionEnded,
    SessionStarted,
    ToolResult,
    Turn,
    TurnLatency,
)
from localagent.store import SessionRecord, SessionStore
from localagent.testing.terminal import Tmux
from localagent.tui.llm_panel import LLMPanel
from localagent.tui.panels import FlowPanel
from localagent.tui.replay import ReplayApp, turn_marks
from localagent.tui.session_screen import SessionScreen

SID = "feed00000001"
T0 = 1_760_000_000.0


def _llm(index: int, at: float, reply: str = "", tool: str | None = None) -> LLMExchange:
    calls = (
        ({"id": f"c{index}", "name": tool, "arguments": {"summary": "no paper"}},) if tool else ()
    )
    return LLMExchange(
        SID,
        index=index,
        messages=({"role": "system", "content": "You run the help desk."},),
        tools=("record_issue",),
        reply=reply,
        tool_calls=calls,
        tokens_in=200 + index,
        tokens_out=12,
        ttfb=0.11,
        duration=0.3,
        at=at,
    )


def _latency(at: float, v2v: float) -> TurnLatency:
    return TurnLatency(
        SID, vad_wait=0.2, stt=0.3, turn_wait=0.1, llm=0.1, tools=0, tts=0.1, avatar=0.02,
        voice_to_voice=v2v, at=at,
    )  # fmt: skip


def _events() -> list[Event]:
    return [
        SessionStarted(SID, flow="helpdesk", avatar="local", at=T0),
        NodeEntered(SID, node="greet", previous=None, functions=(), at=T0 + 0.1),
        _llm(1, T0 + 0.5, reply="Hi, this is the help desk."),
        Turn(SID, role="assistant", text="Hi, this is the help desk.", at=T0 + 1),
        Turn(SID, role="user", text="The printer is out of paper.", at=T0 + 5),
        _llm(2, T0 + 5.5, tool="record_issue"),
        FunctionCalled(
            SID,
            node="greet",
            name="record_issue",
            arguments={"summary": "no paper"},
            result={"status": "ok"},
            at=T0 + 5.6,
        ),
        ToolResult(
            SID,
            tool_call_id="c2",
            name="record_issue",
            result={"status": "ok"},
            refused=False,
            at=T0 + 5.6,
        ),  # fmt: skip
        NodeEntered(SID, node="help", previous="greet", functions=(), at=T0 + 5.7),
        ServiceMetric(SID, service="LLM", metric="ttfb", seconds=0.11, at=T0 + 5.8),
        _llm(3, T0 + 6, reply="Put more paper in tray two, then press the green button."),
        _latency(T0 + 6, 0.81),
        Turn(SID, role="assistant", text="Put more paper in", interrupted=True, at=T0 + 7),
        Turn(SID, role="user", text="Thanks, bye.", at=T0 + 9),
        SessionEnded(SID, reason="browser left", final_state={"issue": "no paper"}, at=T0 + 10),
    ]


def _record(tmp_path: Path) -> tuple[SessionStore, SessionRecord]:
    store = SessionStore(tmp_path / "sessions.sqlite3")
    db = store.connect()
    for seq, event in enumerate(_events(), 1):
        store.write(db, event, seq)
    db.close()
    record = store.get(SID[:6])
    assert record is not None
    return store, record


def _transcript(app: ReplayApp) -> str:
    return "\n".join(s.text for s in app.query_one("#transcript", RichLog).lines)


async def test_replay_steps_turn_by_turn_and_back(tmp_path: Path) -> None:
    _, record = _record(tmp_path)
    app = ReplayApp(record, ["greet", "help", "goodbye"])
    assert turn_marks(app.events) == [3, 4, 5, 13, len(app.events)]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        assert "turn 0 of 4" in str(app.query_one("#url").render())
        assert "help desk" not in _transcript(app)
        await pilot.press("n")
        await pilot.pause(0.1)
        assert "Hi, this is the help desk." in _transcript(app)
        assert "out of paper" not in _transcript(app)
        await pilot.press("n", "n")
        await pilot.pause(0.1)
        # Turn 3: the tool call, the node change, the interrupted answer and its latency.
        assert app.query_one(FlowPanel).path == ["greet", "help"]
        assert "[interrupted]" in _transcript(app)
        llm = app.query_one(LLMPanel)
        assert [r.exchange.index for r in llm.rows] == [1, 2, 3]
        assert llm.rows[1].results == {0: ({"status": "ok"}, True)}
        assert llm.rows[2].spoken_in_part
        assert app.query_one("#latency-table", DataTable).row_count == 2  # call line + turn
        # Back one: the panels show turn 2 again, nothing of turn 3.
        await pilot.press("2", "p")
        await pilot.pause(0.2)
        assert "turn 2 of 4" in str(app.query_one("#url").render())
        assert "[interrupted]" not in _transcript(app) and "out of paper" in _transcript(app)
        assert [r.exchange.index for r in app.query_one(LLMPanel).rows] == [1]
        assert app.query_one("#views").active == "tab-llm"  # type: ignore[attr-defined]
        # All of it, then the session in full; the live-call keys do nothing here.
        await pilot.press("a")
        await pilot.pause(0.1)
        assert "call ended (browser left)" in _transcript(app)
        assert app.check_action("hang_up", ()) is False
        await pilot.press("s")
        await pilot.pause(0.1)
        assert isinstance(app.screen, SessionScreen)
        shown = str(app.screen.query_one("#session-detail Static").render())
        assert 'final state: {"issue": "no paper"}' in shown and "3 inferences" in shown
        assert 'tool record_issue({"summary": "no paper"}) = {"status": "ok"}' in shown


def test_replay_in_a_terminal(tmp_path: Path) -> None:
    _record(tmp_path)
    command = f"LOCALAGENT_DATA_DIR={tmp_path} {sys.executable} -m localagent sessions replay"
    with Tmux(f"{command} {SID[:6]}") as terminal:
        screen = terminal.wait_for(lambda s: "Replay of session" in s)
        assert f"Replay of session {SID}" in screen and "turn 0 of 4" in screen, screen
        terminal.keys("a")
        screen = terminal.wait_for(lambda s: "Thanks, bye." in s, timeout=5)
        assert "Thanks, bye." in screen and "turn 4 of 4" in screen, screen
        terminal.keys("q")
        assert terminal.wait_gone(), "replay still running after q"


def test_replay_without_a_terminal_says_what_to_use(tmp_path: Path) -> None:
    _record(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "localagent", "sessions", "replay", SID],
        env={**os.environ, "LOCALAGENT_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1 and "needs a terminal" in done.stderr, done.stderr
