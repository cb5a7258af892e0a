"""Barge-in decided by words: the caller's voice hushes the bot, only words interrupt it.

The strategy is driven with the frames pipecat's user turn controller hands it, in the
order a call produces them, and a hush that records what it was told.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.turns.types import ProcessFrameResult
from pipecat.utils.asyncio.task_manager import TaskManager

from localagent.call import barge_in
from localagent.call.barge_in import BargeInStart, is_backchannel


class Watched:
    """The strategy and what it did: hushes, turn starts, aggregation resets."""

    def __init__(self, strategy: BargeInStart, hushes: list[bool]) -> None:
        self.strategy = strategy
        self.hushes = hushes
        self.turns = 0
        self.resets = 0

    async def send(self, *frames: object) -> list[ProcessFrameResult]:
        return [await self.strategy.process_frame(f) for f in frames]  # type: ignore[arg-type]


@pytest.fixture
async def watched(request: pytest.FixtureRequest) -> AsyncIterator[Watched]:
    """The strategy commits after 0.15 s of talking on, or what the test's param says."""
    hushes: list[bool] = []

    def hush(on: bool) -> bool:
        hushes.append(on)
        return True

    commit_after_s = getattr(request, "param", 0.15)
    strategy = BargeInStart(hush=hush, commit_after_s=commit_after_s, heard_nothing_s=0.15)
    await strategy.setup(SimpleNamespace(task_manager=TaskManager(loop=asyncio.get_running_loop())))  # type: ignore[arg-type]
    w = Watched(strategy, hushes)

    @strategy.event_handler("on_user_turn_started")
    async def started(_s: object, _params: object) -> None:
        w.turns += 1
        await strategy.handle_user_turn_started()  # as the controller does

    @strategy.event_handler("on_reset_aggregation")
    async def reset(_s: object) -> None:
        w.resets += 1

    yield w
    await strategy.cleanup()


def final(text: str) -> TranscriptionFrame:
    return TranscriptionFrame(text, "caller", "2026-12-01T00:00:00", finalized=True)


@pytest.mark.parametrize(
    ("text", "backchannel"),
    [
        ("Yeah.", True),
        (" Mm-hm. ", True),
        ("Okay, okay.", True),
        ("uh-huh", True),
        ("", True),
        ("MMICM.", True),  # whisper's way with "mm-hm", now and then
        ("M. H. M. H. M. H.", True),  # and another
        ("Hmm, MMMM.", True),
        ("Wait.", False),
        ("No.", False),
        ("Stop!", False),
        ("Yeah, but I want a refund.", False),
    ],
)
def test_is_backchannel(text: str, backchannel: bool) -> None:
    assert is_backchannel(text) is backchannel


@pytest.mark.parametrize(
    ("text", "voiced_s", "backchannel"),
    [
        # tiny.en on espeak's "mm-hm" (0.6-0.8 s of voice): more words than anyone says
        ("Yeah, man, me, it can.", 0.7, True),
        ("and then they jump.", 0.7, True),
        # words said at a real pace
        ("and then they jump.", 1.0, False),
        ("I want a refund.", 0.9, False),
        # a stop word is never a hum, however quickly it came
        ("No, no, no, stop.", 0.5, False),
        ("Wait, what?", 0.3, False),
    ],
)
def test_too_many_words_for_the_voice_are_a_hum(
    text: str, voiced_s: float, backchannel: bool
) -> None:
    assert is_backchannel(text, voiced_s) is backchannel
    assert is_backchannel(text) is (text.count(" ") == 0)  # without the time: words


async def test_a_turn_starts_at_once_when_the_bot_is_silent(watched: Watched) -> None:
    assert await watched.send(VADUserStartedSpeakingFrame()) == [ProcessFrameResult.STOP]
    assert watched.turns == 1 and watched.hushes == []


async def _well_into_an_answer(watched: Watched, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(barge_in, "FRESH_ANSWER_S", 0.0)
    await watched.send(BotStartedSpeakingFrame())


async def test_voice_just_after_the_bot_began_is_the_turn_going_on(watched: Watched) -> None:
    await watched.send(BotStartedSpeakingFrame(), VADUserStartedSpeakingFrame())
    assert watched.turns == 1  # at once: no hush, no waiting for words


async def test_a_backchannel_hushes_the_bot_and_lets_it_go_on(
    watched: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _well_into_an_answer(watched, monkeypatch)
    await watched.send(VADUserStartedSpeakingFrame())
    assert watched.hushes == [True]
    await watched.send(VADUserStoppedSpeakingFrame(), final("Yeah."))
    assert watched.hushes == [True, False]
    assert watched.turns == 0
    assert watched.resets == 1  # "Yeah." is not kept for the caller's next turn
    await asyncio.sleep(0.3)  # no timer fires later
    assert watched.turns == 0 and watched.hushes == [True, False]


async def test_talking_on_is_an_interruption(
    watched: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _well_into_an_answer(watched, monkeypatch)
    await watched.send(VADUserStartedSpeakingFrame())
    await asyncio.sleep(0.3)
    assert watched.turns == 1
    # The interruption the turn start broadcasts lifts the hush at the avatar; lifting it
    # here first would let the held answer out in between.
    assert watched.hushes == [True]


async def test_words_that_are_not_a_backchannel_interrupt(
    watched: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _well_into_an_answer(watched, monkeypatch)
    await watched.send(VADUserStartedSpeakingFrame())
    results = await watched.send(VADUserStoppedSpeakingFrame(), final("Stop."))
    assert watched.turns == 1 and watched.hushes == [True]
    assert results[-1] == ProcessFrameResult.CONTINUE  # the turn's first words go on


async def test_a_sound_with_no_words_lets_the_bot_go_on(
    watched: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _well_into_an_answer(watched, monkeypatch)
    await watched.send(VADUserStartedSpeakingFrame())
    await watched.send(VADUserStoppedSpeakingFrame())  # whisper hears nothing in a cough
    await asyncio.sleep(0.3)
    assert watched.hushes == [True, False] and watched.turns == 0


async def test_early_voice_hushes_and_is_lifted_when_no_speech_follows(
    watched: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(barge_in, "EARLY_HUSH_S", 0.1)
    watched.strategy.early_voice()  # the bot is silent: nothing to hush
    assert watched.hushes == []
    await watched.send(BotStartedSpeakingFrame())
    watched.strategy.early_voice()
    assert watched.hushes == [True]
    await asyncio.sleep(0.25)
    assert watched.hushes == [True, False] and watched.turns == 0


async def test_early_voice_then_speech_keeps_the_hush_until_the_words_decide(
    watched: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _well_into_an_answer(watched, monkeypatch)
    watched.strategy.early_voice()
    await watched.send(VADUserStartedSpeakingFrame(), VADUserStoppedSpeakingFrame())
    assert watched.hushes == [True]  # hushed once, not again at the VAD's start
    await watched.send(final("Mm-hm."))
    assert watched.hushes == [True, False] and watched.turns == 0


def vad_started() -> VADUserStartedSpeakingFrame:
    return VADUserStartedSpeakingFrame(start_secs=0.2)  # as the call's VAD sends it


def vad_stopped() -> VADUserStoppedSpeakingFrame:
    return VADUserStoppedSpeakingFrame(stop_secs=0.2)


@pytest.mark.parametrize("watched", [5.0], indirect=True)  # decided by the words alone
@pytest.mark.parametrize(("voice_s", "interrupts"), [(0.3, False), (1.2, True)])
async def test_a_hum_written_as_words_lets_the_bot_go_on(
    watched: Watched, monkeypatch: pytest.MonkeyPatch, voice_s: float, interrupts: bool
) -> None:
    await _well_into_an_answer(watched, monkeypatch)
    await watched.send(vad_started())
    await asyncio.sleep(voice_s)  # the VAD's start and stop each lag the voice by 0.2 s
    await watched.send(vad_stopped(), final("and then they jump."))
    assert watched.turns == int(interrupts)
    assert watched.hushes == ([True] if interrupts else [True, False])
