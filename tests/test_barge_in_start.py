"""Barge-in decided by words: the caller's voice hushes the bot, only words interrupt it.

The rules (`localagent.turns.barge_in.BargeIn`) in simulated time, then the pipecat adapter
(`localagent.call.barge_in.BargeInStart`) driven with the frames pipecat's user turn
controller hands it, and a hush that records what it was told.
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

from localagent.call.barge_in import BargeInStart
from localagent.turns import barge_in
from localagent.turns.actions import Action, Hush, LiftHush, ResetAggregation, StartTurn
from localagent.turns.backchannel import is_backchannel
from localagent.turns.barge_in import BargeIn
from localagent.turns.clock import SimClock, pass_time


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


class Sim:
    """The decision in simulated time, and every action it asked for, in order."""

    def __init__(self, commit_after_s: float = 0.15, can_hush: bool = True) -> None:
        self.clock = SimClock(100.0)
        self.d = BargeIn(
            clock=self.clock,
            can_hush=lambda: can_hush,
            commit_after_s=commit_after_s,
            heard_nothing_s=0.15,
        )
        self.actions: list[Action] = []

    def take(self, actions: object) -> bool | None:
        consumed = getattr(actions, "consumed", None)
        got = list(getattr(actions, "actions", actions))  # type: ignore[arg-type]
        self.actions += got
        if any(isinstance(a, StartTurn) for a in got):
            self.actions += self.d.turn_started()  # as pipecat's controller does
        return consumed

    def wait(self, seconds: float) -> None:
        """Let `seconds` pass, ticking at each deadline on the way."""
        pass_time(self.clock, self.clock.now + seconds, self.d, self.take)

    def well_into_an_answer(self) -> None:
        self.d.bot_started()
        self.wait(barge_in.FRESH_ANSWER_S + 1.0)

    @property
    def hushes(self) -> list[bool]:
        return [isinstance(a, Hush) for a in self.actions if isinstance(a, Hush | LiftHush)]

    @property
    def turns(self) -> int:
        return sum(isinstance(a, StartTurn) for a in self.actions)


def test_a_turn_starts_at_once_when_the_bot_is_silent() -> None:
    s = Sim()
    assert s.take(s.d.voice_started(0.2)) is True
    assert s.turns == 1 and s.hushes == []


def test_voice_just_after_the_bot_began_is_the_turn_going_on() -> None:
    s = Sim()
    s.d.bot_started()
    s.wait(0.5)
    s.take(s.d.voice_started(0.2))
    assert s.turns == 1 and s.hushes == []  # at once: no hush, no waiting for words


def test_a_backchannel_hushes_the_bot_and_lets_it_go_on() -> None:
    s = Sim()
    s.well_into_an_answer()
    s.take(s.d.voice_started(0.2))
    assert s.hushes == [True]
    s.wait(0.1)
    s.take(s.d.voice_stopped(0.2))
    assert s.take(s.d.transcript("Yeah.")) is True  # consumed: it starts no turn
    assert s.hushes == [True, False] and s.turns == 0
    # "Yeah." is not kept for the caller's next turn
    assert sum(isinstance(a, ResetAggregation) for a in s.actions) == 1
    s.wait(5.0)  # nothing is due later
    assert s.turns == 0 and s.hushes == [True, False]


def test_talking_on_is_an_interruption() -> None:
    s = Sim()
    s.well_into_an_answer()
    s.take(s.d.voice_started(0.2))
    s.wait(0.14)
    assert s.turns == 0
    s.wait(0.02)
    assert s.turns == 1
    # The interruption the turn start broadcasts lifts the hush at the avatar; lifting it
    # here first would let the held answer out in between.
    assert s.hushes == [True]


def test_words_that_are_not_a_backchannel_interrupt() -> None:
    s = Sim()
    s.well_into_an_answer()
    s.take(s.d.voice_started(0.2))
    s.take(s.d.voice_stopped(0.2))
    assert s.take(s.d.transcript("Stop.")) is False  # the turn's first words go on
    assert s.turns == 1 and s.hushes == [True]


def test_a_sound_with_no_words_lets_the_bot_go_on() -> None:
    s = Sim()
    s.well_into_an_answer()
    s.take(s.d.voice_started(0.2))
    s.wait(0.05)
    s.take(s.d.voice_stopped(0.2))  # whisper hears nothing in a cough
    s.wait(0.14)
    assert s.hushes == [True]
    s.wait(0.02)
    assert s.hushes == [True, False] and s.turns == 0
    assert s.d.counts["noises"] == 1


def test_early_voice_hushes_and_is_lifted_when_no_speech_follows() -> None:
    s = Sim()
    s.take(s.d.early_voice())  # the bot is silent: nothing to hush
    assert s.hushes == []
    s.d.bot_started()
    s.take(s.d.early_voice())
    assert s.hushes == [True]
    s.wait(barge_in.EARLY_HUSH_S - 0.01)
    assert s.hushes == [True]
    s.wait(0.02)
    assert s.hushes == [True, False] and s.turns == 0


def test_early_voice_then_speech_keeps_the_hush_until_the_words_decide() -> None:
    s = Sim()
    s.well_into_an_answer()
    s.take(s.d.early_voice())
    s.take(s.d.voice_started(0.2))
    s.take(s.d.voice_stopped(0.2))
    assert s.hushes == [True]  # hushed once, not again at the VAD's start
    s.take(s.d.transcript("Mm-hm."))
    assert s.hushes == [True, False] and s.turns == 0


@pytest.mark.parametrize(("voice_s", "interrupts"), [(0.3, False), (1.2, True)])
def test_a_hum_written_as_words_lets_the_bot_go_on(voice_s: float, interrupts: bool) -> None:
    s = Sim(commit_after_s=5.0)  # decided by the words alone
    s.well_into_an_answer()
    s.take(s.d.voice_started(0.2))
    s.wait(voice_s)  # the VAD's start and stop each lag the voice by 0.2 s
    s.take(s.d.voice_stopped(0.2))
    s.take(s.d.transcript("and then they jump."))
    assert s.turns == int(interrupts)
    assert s.hushes == ([True] if interrupts else [True, False])


def test_a_bot_that_cannot_be_hushed_talks_on_until_the_words_decide() -> None:
    s = Sim(can_hush=False)  # a Tavus replica
    s.well_into_an_answer()
    s.take(s.d.voice_started(0.2))
    s.take(s.d.voice_stopped(0.2))
    s.take(s.d.transcript("Yeah."))
    assert s.hushes == [] and s.turns == 0
    s.take(s.d.voice_started(0.2))
    s.take(s.d.voice_stopped(0.2))
    s.take(s.d.transcript("Wait, that is wrong."))
    assert s.hushes == [] and s.turns == 1


# -- the pipecat adapter --------------------------------------------------------------


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
async def watched() -> AsyncIterator[Watched]:
    hushes: list[bool] = []
    strategy = BargeInStart(hush=hushes.append, commit_after_s=30.0, heard_nothing_s=30.0)
    tasks = TaskManager(loop=asyncio.get_running_loop())
    await strategy.setup(SimpleNamespace(task_manager=tasks))  # type: ignore[arg-type]
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


async def test_the_adapter_starts_a_turn_when_the_bot_is_silent(watched: Watched) -> None:
    assert await watched.send(VADUserStartedSpeakingFrame()) == [ProcessFrameResult.STOP]
    assert watched.turns == 1 and watched.hushes == []


async def test_the_adapter_carries_out_a_backchannel_and_an_interruption(
    watched: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(barge_in, "FRESH_ANSWER_S", 0.0)
    await watched.send(BotStartedSpeakingFrame())
    results = await watched.send(VADUserStartedSpeakingFrame(), VADUserStoppedSpeakingFrame())
    assert results == [ProcessFrameResult.STOP] * 2 and watched.hushes == [True]
    assert await watched.send(final("Yeah.")) == [ProcessFrameResult.STOP]
    assert watched.hushes == [True, False] and watched.resets == 1 and watched.turns == 0
    await watched.send(VADUserStartedSpeakingFrame(), VADUserStoppedSpeakingFrame())
    assert await watched.send(final("Stop.")) == [ProcessFrameResult.CONTINUE]
    assert watched.turns == 1 and watched.hushes == [True, False, True]
    assert watched.strategy.counts == {"interruptions": 1, "backchannels": 1, "noises": 0}
