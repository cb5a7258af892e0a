"""What a final transcript says about the end of the turn."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from pipecat.clocks.system_clock import SystemClock
from pipecat.frames.frames import EagerEndOfTurnCancelFrame, Frame, LLMRunFrame, TranscriptionFrame
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.turns.user_stop.base_user_turn_stop_strategy import UserTurnStoppedParams
from pipecat.utils.asyncio.task_manager import TaskManager

from localagent.call.turn_evidence import (
    STATEMENT_WAIT_S,
    EvidenceTurnStop,
    evidence_wait,
    transcript_cue,
)


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("What time do you open on Sunday?", "finished"),
        ("Goodbye!", "finished"),
        ("My printer will not print anything.", "finished"),
        ("Yes.", "finished"),
        ("Two.", "finished"),
        ("I'd like a table for, um,", "unfinished"),
        ("I'd like a table for um", "unfinished"),
        ("I need some help with", "unfinished"),
        ("It's spelled B,", "unfinished"),
        ("My code is four, seven,", "unfinished"),
        ("My code is 4 7", "unfinished"),
        ("and the", "unfinished"),
        ("okay so", "unfinished"),
        ("my printer", "open"),
        ("", "open"),
    ],
)
def test_transcript_cue(text: str, cue: str) -> None:
    assert transcript_cue(text) == cue


STATEMENT = STATEMENT_WAIT_S  # the statement wait a call starts with


@pytest.mark.parametrize(
    ("text", "smart_turn", "pauses", "expected"),
    [
        # smart-turn and the words agree it is over: nothing to wait for
        ("What time do you open on Sunday?", True, [], (0.0, "")),
        ("Yes.", True, [], (0.0, "")),
        # ... and a short answer or a question overrules smart-turn's "unfinished"
        ("Maria Lopez.", False, [], (0.0, "")),
        ("Two.", False, [], (0.0, "")),
        # but not a short statement that ends on a letter: a name may be being spelled
        ("So B.", True, [], (STATEMENT, "statement")),
        # and three words are a statement: "That sounds fine." is often followed by more
        ("That sounds fine.", True, [], (STATEMENT, "statement")),
        # a statement waits the statement wait: another sentence often follows
        ("I'm calling about my order.", True, [], (STATEMENT, "statement")),
        # smart-turn unsure of a statement: the unsure wait, not smart-turn's 1.5 s
        ("My printer will not print anything.", False, [], (1.0, "statement")),
        # unfinished words wait, whatever smart-turn says
        ("I'd like a table for, um,", True, [], (1.2, "unfinished")),
        ("I'd like a table for, um,", False, [], (1.2, "unfinished")),
        # digits read out: the caller's own pauses between them, plus a margin
        ("My code is four, seven, one, nine.", True, [0.4, 0.42, 0.38], (0.77, "unfinished")),
        # ... no shorter than a statement's wait, no longer than the unfinished wait
        ("It's spelled B, R, O, W, N.", True, [0.1], (0.7, "unfinished")),
        ("It's spelled B, R, O, W, N.", True, [1.1], (1.2, "unfinished")),
        # ... and the full wait before any pause was heard
        ("The number is 2 8 5 0.", True, [], (1.2, "unfinished")),
        # no transcript punctuation and smart-turn unsure: smart-turn decides
        ("my printer", False, [], (0.0, "")),
    ],
)
def test_evidence_wait(
    text: str, smart_turn: bool, pauses: list[float], expected: tuple[float, str]
) -> None:
    wait, why = evidence_wait(
        text, smart_turn_finished=smart_turn, pauses=pauses, statement_wait_s=STATEMENT
    )
    assert (round(wait, 2), why) == expected


def test_without_speculation_a_statement_does_not_wait() -> None:
    assert evidence_wait(
        "I'm calling about my order.", smart_turn_finished=True, pauses=[], statement_wait_s=None
    ) == (0.0, "")


class _Strategy:
    """EvidenceTurnStop with speculation on, and what it asks the aggregator for."""

    def __init__(self) -> None:
        from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

        self.stop = EvidenceTurnStop(turn_analyzer=LocalSmartTurnAnalyzerV3(), speculate=True)
        self.pushed: list[Frame] = []
        self.ended: list[bool] = []  # each turn end: did it confirm the speculation?

        @self.stop.event_handler("on_push_frame")
        async def on_push(_s: object, frame: Frame, _direction: object) -> None:
            self.pushed.append(frame)

        @self.stop.event_handler("on_user_turn_stopped")
        async def on_stopped(_s: object, params: UserTurnStoppedParams) -> None:
            self.ended.append(params.confirms_speculation)

    async def speculate(self, text: str) -> None:
        """The caller said `text` and stopped; the answer starts before the turn's end."""
        tasks = TaskManager(loop=asyncio.get_running_loop())
        await self.stop.setup(FrameProcessorSetup(SystemClock(), tasks, cast(Any, None)))
        await self.stop.handle_user_turn_started()
        await self.stop.process_frame(TranscriptionFrame(text, "caller", "now", finalized=True))
        await self.stop._start_speculation()


async def test_a_tool_call_withdrawn_after_the_turn_confirmed_it_is_asked_again() -> None:
    # The LLM withdraws a speculative answer that wants a tool call; when the turn's end
    # confirmed it first (the withdrawal was on its way up), nothing would answer the turn.
    s = _Strategy()
    await s.speculate("My printer will not print anything.")
    await s.stop.trigger_user_turn_stopped()
    assert s.ended == [True] and s.pushed == []
    await s.stop.process_frame(EagerEndOfTurnCancelFrame())
    assert [type(f) for f in s.pushed] == [LLMRunFrame]
    assert (s.stop.speculations.confirmed, s.stop.speculations.withdrawn) == (0, 1)
    await s.stop.process_frame(EagerEndOfTurnCancelFrame())  # asked once only
    assert len(s.pushed) == 1


async def test_a_tool_call_withdrawn_before_the_turn_ended_runs_at_its_end() -> None:
    s = _Strategy()
    await s.speculate("My printer will not print anything.")
    await s.stop.process_frame(EagerEndOfTurnCancelFrame())
    await s.stop.trigger_user_turn_stopped()
    # an ordinary end of turn: it runs the inference itself, nothing extra is asked
    assert s.ended == [False] and s.pushed == []
    assert (s.stop.speculations.confirmed, s.stop.speculations.withdrawn) == (0, 1)


async def test_a_withdrawal_after_the_caller_went_on_asks_nothing() -> None:
    s = _Strategy()
    await s.speculate("My printer will not print anything.")
    await s.stop.trigger_user_turn_stopped()
    await s.stop.handle_user_turn_started()  # the caller speaks again: a new turn answers
    await s.stop.process_frame(EagerEndOfTurnCancelFrame())
    assert s.pushed == []
