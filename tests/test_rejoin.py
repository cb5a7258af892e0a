"""A turn taken too early and gone on with is answered whole: its two parts, one message."""

from __future__ import annotations

from typing import Any

import pytest
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    LLMContextFrame,
    LLMContextUserTurnFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.tests.utils import run_test

from localagent.call.rejoin import TurnRejoin, rejoined

SYSTEM = {"role": "system", "content": "You are a helpdesk."}
FIRST = {"role": "user", "content": "I'm calling about my order."}
HALF = {"role": "assistant", "content": "Sure, what"}
SECOND = {"role": "user", "content": "It hasn't arrived yet."}
WHOLE = {"role": "user", "content": "I'm calling about my order. It hasn't arrived yet."}


def test_the_two_parts_become_one_message_without_the_half_answer() -> None:
    assert rejoined([SYSTEM, FIRST, HALF, SECOND]) == [SYSTEM, WHOLE]
    assert rejoined([SYSTEM, FIRST, SECOND]) == [SYSTEM, WHOLE]  # stopped before a word


@pytest.mark.parametrize(
    "messages",
    [
        [SYSTEM, SECOND],  # nothing to join it to
        [SYSTEM, FIRST, {"role": "assistant", "tool_calls": [{"id": "1"}]}, SECOND],
        [SYSTEM, FIRST, {"role": "system", "content": "New task."}, SECOND],  # a new node
        [SYSTEM, FIRST, HALF, SECOND, HALF],  # the last message is not the caller's
    ],
)
def test_what_led_elsewhere_stays(messages: list[Any]) -> None:
    assert rejoined(messages) is None


def _user_turn() -> LLMContextUserTurnFrame:
    return LLMContextUserTurnFrame(text=SECOND["content"], timestamp="")


async def test_the_calls_context_and_a_speculative_copy_are_joined() -> None:
    context = LLMContext(messages=[SYSTEM, FIRST, HALF, SECOND])
    before = LLMContext(messages=[SYSTEM, FIRST, HALF, SECOND])  # before the caller went on
    after = LLMContext(messages=[SYSTEM, FIRST, HALF, SECOND])
    rejoin = TurnRejoin(context)
    await run_test(
        Pipeline([rejoin]),
        frames_to_send=[LLMContextFrame(context=before, speculation=True)],
    )
    rejoin.expect()
    await run_test(
        Pipeline([rejoin]),
        frames_to_send=[LLMContextFrame(context=after, speculation=True), _user_turn()],
    )
    assert before.get_messages() == [SYSTEM, FIRST, HALF, SECOND]
    assert after.get_messages() == [SYSTEM, WHOLE]
    assert context.get_messages() == [SYSTEM, WHOLE] and rejoin.rejoined == 1
    # the record marks the second part as going on with the first, once
    assert rejoin.goes_on(SECOND["content"]) and not rejoin.goes_on(SECOND["content"])
    # once: the next turn is its own
    context.add_message({"role": "assistant", "content": "Let me check."})
    context.add_message({"role": "user", "content": "Thanks."})
    await run_test(Pipeline([rejoin]), frames_to_send=[_user_turn()])
    assert len(context.get_messages()) == 4 and rejoin.rejoined == 1


async def test_an_answer_started_since_cancels_the_join() -> None:
    context = LLMContext(messages=[SYSTEM, FIRST, HALF, SECOND])
    rejoin = TurnRejoin(context)
    rejoin.expect()
    await run_test(
        Pipeline([rejoin]),
        frames_to_send=[BotStartedSpeakingFrame(), _user_turn()],
    )
    assert context.get_messages() == [SYSTEM, FIRST, HALF, SECOND] and rejoin.rejoined == 0


async def test_going_on_asked_before_the_join_is_told_once() -> None:
    # the record may ask as the turn ends, before the frame that joins it gets there
    context = LLMContext(messages=[SYSTEM, FIRST, HALF, SECOND])
    rejoin = TurnRejoin(context)
    rejoin.expect()
    assert rejoin.goes_on(SECOND["content"])
    await run_test(Pipeline([rejoin]), frames_to_send=[_user_turn()])
    assert context.get_messages() == [SYSTEM, WHOLE]
    assert not rejoin.goes_on(SECOND["content"])  # the same words again: a turn of its own
