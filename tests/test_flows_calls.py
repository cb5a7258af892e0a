"""The example flows in spoken calls: the test LLM server scripts the tool calls a model
would make, the caller speaks, and the recorded session shows the path taken."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import pytest

from localagent.store import SessionRecord, SessionStore
from localagent.testing.app_process import AppProcess, run_app
from localagent.testing.caller import Caller
from localagent.testing.fake_ollama import Reply, ThreadedFakeOllama, ToolCall
from localagent.testing.speech import synthesize


def call(tool: str, /, **arguments: object) -> Reply:
    return Reply(tool_calls=(ToolCall(tool, dict(arguments)),))


def next_weekday(weekday: int) -> str:
    today = dt.date.today()
    return (today + dt.timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)).isoformat()


@pytest.fixture
def ollama() -> Iterator[ThreadedFakeOllama]:
    with ThreadedFakeOllama() as server:
        yield server


@pytest.fixture(scope="module")
def utterances() -> dict[str, np.ndarray]:
    # No commas: the pause Piper puts at one can end the caller's turn when the machine is
    # loaded (pipecat's turn timers run on wall-clock time), and the scripted LLM replies
    # expect one turn per line.
    return {
        "booking": synthesize("I would like a table for four under the name Maria."),
        "yes": synthesize("Yes that is right."),
        "tuesday": synthesize("Then Tuesday at half past seven please."),
        "billing": synthesize("I have a question about my last bill."),
        "thanks": synthesize("Okay thank you that answers it."),
        "invoice": synthesize("The invoice number is I N V one zero zero two."),
        "person": synthesize("Can I just talk to a person please?"),
    }


async def converse(app: AppProcess, lines: list[np.ndarray], end_timeout: float = 60) -> None:
    """Wait for the greeting, speak each line after the bot falls silent, until it hangs up."""
    async with Caller(app.url) as caller:
        await caller.wait_for_voice(since=0.0, timeout=60)
        for line in lines:
            await caller.wait_for_silence(quiet_s=1.0, timeout=60)
            ended = await caller.say(line)
            await caller.wait_for_voice(since=ended + 0.05, timeout=60)
        deadline = asyncio.get_running_loop().time() + end_timeout
        while not any("ended (flow ended)" in line for line in app.lines):
            assert asyncio.get_running_loop().time() < deadline, "the flow never ended the call"
            await asyncio.sleep(0.2)


def flow_app(
    flow: str, ollama: ThreadedFakeOllama, data_dir: Path
) -> AbstractContextManager[AppProcess]:
    # The LLM's replies are scripted turn by turn, so these tests fix end of turn to the
    # silence timeout: smart-turn may (rightly) take a mid-sentence pause as the end of a turn,
    # which is end-of-turn behaviour (see tests/test_turns.py and scripts/bench.py), not flows.
    return run_app(
        "--flow",
        flow,
        "--ollama-host",
        ollama.url,
        "--turn-stop",
        "speech-timeout",
        env={"LOCALAGENT_DATA_DIR": str(data_dir)},
    )


def the_session(data_dir: Path) -> SessionRecord:
    sessions = SessionStore(data_dir / "sessions.sqlite3").list()
    assert len(sessions) == 1
    return sessions[0]


async def test_booking_main_path(
    ollama: ThreadedFakeOllama, utterances: dict[str, np.ndarray], tmp_path: Path
) -> None:
    tuesday = next_weekday(1)
    ollama.server.replies.extend(
        [
            Reply(text="Hello, this is Sam at Trattoria Locale. What name is the booking under?"),
            call("record_name", name="Maria"),
            call("record_party_size", people=4),
            call("record_date_time", date=tuesday, time="19:00"),
            Reply(text="A table for four under Maria on Tuesday at seven. Is that right?"),
            call("confirm_booking"),
            Reply(text="You are booked, Maria. Goodbye!"),
        ]
    )
    with flow_app("booking", ollama, tmp_path) as app:
        await converse(app, [utterances["booking"], utterances["yes"]])
    session = the_session(tmp_path)
    assert session.path == ["greet", "party_size", "date_time", "confirm", "goodbye"]
    assert session.end_reason == "flow ended"
    state = session.state
    assert (state["name"], state["party_size"], state["date"], state["time"]) == (
        "Maria",
        4,
        tuesday,
        "19:00",
    )
    assert state["confirmed"] is True and state["reference"].startswith("TL-")
    user_turns = [t["text"].lower() for t in session.turns if t["role"] == "user"]
    assert any("table" in t for t in user_turns), user_turns
    assert [c["name"] for c in session.function_calls] == [
        "record_name",
        "record_party_size",
        "record_date_time",
        "confirm_booking",
    ]
    # The read-back prompt was filled from state.
    assert any("under the name Maria" in str(r["messages"]) for r in ollama.server.requests)


async def test_booking_refusals_changes_and_a_confused_llm(
    ollama: ThreadedFakeOllama, utterances: dict[str, np.ndarray], tmp_path: Path
) -> None:
    monday, tuesday = next_weekday(0), next_weekday(1)
    ollama.server.replies.extend(
        [
            Reply(text="Hello, Trattoria Locale. What name is the booking under?"),
            call("record_name", name="Maria"),
            call("record_party_size", people=20),  # refused: stays, asks again
            call("record_party_size", people=6),
            call("book_table", people=6),  # a tool that does not exist
            call("record_date_time", date=monday, time="19:30"),  # refused: closed on Mondays
            Reply(text="Sorry, we are closed on Mondays. Which other day would suit you?"),
            call("record_date_time", date=tuesday, time="19:30"),
            call("change_booking", change="name"),
            call("confirm_booking"),  # a tool of another node
            call("record_name", name="Maria Rossi"),
            call("confirm_booking"),
            Reply(text="All done, Maria. Goodbye!"),
        ]
    )
    with flow_app("booking", ollama, tmp_path) as app:
        await converse(app, [utterances["booking"], utterances["tuesday"]])
    session = the_session(tmp_path)
    assert session.path == [
        "greet",
        "party_size",
        "date_time",
        "confirm",
        "change_name",
        "confirm",
        "goodbye",
    ]
    calls = [(c["name"], c["accepted"]) for c in session.function_calls]
    print(
        "CALLS",
        [(c["node"], c["name"], c["accepted"], c["result"]) for c in session.function_calls],
    )
    assert ("record_party_size", False) in calls  # 20 people refused
    refused = [c for c in session.function_calls if not c["accepted"]]
    assert "We can seat from 1 to 12" in str(refused[0]["result"])
    assert "closed on Mondays" in str(refused[1]["result"])
    assert len(refused) == 2
    assert session.state["name"] == "Maria Rossi" and session.state["party_size"] == 6
    assert session.state["date"] == tuesday
    # The unknown tool and the other node's tool were answered so the LLM could go on.
    tool_answers = [
        str(m.get("content"))
        for r in ollama.server.requests
        for m in r["messages"]
        if m.get("role") == "tool"
    ]
    for name in ("book_table", "confirm_booking"):
        told = f"The function `{name}` is not currently available."
        assert any(told in answer for answer in tool_answers), tool_answers


async def test_triage_billing_branch(
    ollama: ThreadedFakeOllama, utterances: dict[str, np.ndarray], tmp_path: Path
) -> None:
    ollama.server.replies.extend(
        [
            Reply(text="Acme Fibre support, this is Alex. What seems to be the problem?"),
            call(
                "classify_issue",
                category="billing",
                service_down=False,
                summary="question about last bill",
            ),
            Reply(text="Sure. What is the invoice number?"),
            call("lookup_invoice", invoice_number="INV 1002"),
            Reply(text="Invoice 1002 is 54 euros 20, including an installation charge."),
            call("finish"),
            Reply(text="Thanks for calling Acme Fibre. Goodbye!"),
        ]
    )
    with flow_app("triage", ollama, tmp_path) as app:
        await converse(app, [utterances["billing"], utterances["invoice"], utterances["thanks"]])
    session = the_session(tmp_path)
    assert session.path == ["triage", "billing", "goodbye"]
    assert session.state["route"] == "billing" and session.state["invoice"] == "INV-1002"
    lookup = next(c for c in session.function_calls if c["name"] == "lookup_invoice")
    assert lookup["result"]["found"] is True and lookup["result"]["amount"] == "54.20"


async def test_triage_global_transfer_from_any_node(
    ollama: ThreadedFakeOllama, utterances: dict[str, np.ndarray], tmp_path: Path
) -> None:
    ollama.server.replies.extend(
        [
            Reply(text="Acme Fibre support, this is Alex. What seems to be the problem?"),
            call(
                "classify_issue", category="connectivity", service_down=False, summary="wifi drops"
            ),
            Reply(text="Let us restart the router. Please switch it off for ten seconds."),
            call("transfer_to_human", reason="caller asked for a person"),
            Reply(text="I will pass you to a colleague now. Goodbye!"),
        ]
    )
    with flow_app("triage", ollama, tmp_path) as app:
        await converse(app, [utterances["billing"], utterances["person"]])
    session = the_session(tmp_path)
    assert session.path == ["triage", "technical", "handoff"]
    assert session.state["handoff_reason"] == "caller asked for a person"
    assert session.end_reason == "flow ended"


async def test_a_killed_process_keeps_the_turns_already_spoken(
    ollama: ThreadedFakeOllama, utterances: dict[str, np.ndarray], tmp_path: Path
) -> None:
    ollama.server.replies.extend(
        [
            Reply(text="Hello, this is Sam at Trattoria Locale. What name is the booking under?"),
            call("record_name", name="Maria"),
            Reply(text="Thank you Maria. How many people is the table for?"),
        ]
    )
    with flow_app("booking", ollama, tmp_path) as app:
        async with Caller(app.url) as caller:
            await caller.wait_for_voice(since=0.0, timeout=60)
            await caller.wait_for_silence(quiet_s=1.0, timeout=60)
            ended = await caller.say(utterances["booking"])
            await caller.wait_for_voice(since=ended + 0.05, timeout=60)
            await caller.wait_for_silence(quiet_s=1.0, timeout=60)
            app.proc.kill()
            app.proc.wait(10)
    session = the_session(tmp_path)
    assert session.end_reason is None  # it never got to say goodbye
    assert session.path == ["greet", "party_size"]
    assert session.state["name"] == "Maria"
    roles = [t["role"] for t in session.turns]
    assert roles[:2] == ["assistant", "user"], session.turns
    assert "table" in session.turns[1]["text"].lower()


async def test_recording_can_be_turned_off(ollama: ThreadedFakeOllama, tmp_path: Path) -> None:
    env = {"LOCALAGENT_DATA_DIR": str(tmp_path), "LOCALAGENT_RECORD_SESSIONS": "false"}
    with run_app("--ollama-host", ollama.url, env=env) as app:
        async with Caller(app.url) as caller:
            await caller.wait_for_voice(since=0.0, timeout=60)
    assert not (tmp_path / "sessions.sqlite3").exists()
