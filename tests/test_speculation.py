"""The speculative hold: an answer spoken ahead of its turn's end reaches no one until the
turn is over, and nothing of a withdrawn one ever does."""

from __future__ import annotations

from pipecat.frames.frames import (
    EagerEndOfTurnCancelFrame,
    Frame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection
from pipecat.tests.utils import SleepFrame, run_test

from localagent.call.speculation import LLMPassGate, SpeculationTap, SpeculativeHold
from localagent.testing.frames import FrameLog


class Heard(FrameLog):
    """What gets past the hold (the avatar would play it), with when."""

    @property
    def frames(self) -> list[tuple[float, Frame]]:
        return self.seen

    def answer(self) -> list[Frame]:
        kinds = (TTSAudioRawFrame, TTSTextFrame, LLMFullResponseStartFrame)
        return [f for _, f in self.frames if isinstance(f, kinds)]


def answer(text: str) -> list[Frame]:
    return [
        LLMFullResponseStartFrame(),
        TTSAudioRawFrame(b"\x01\x00" * 2400, 24000, 1),
        TTSTextFrame(text, "sentence"),
        LLMFullResponseEndFrame(),
    ]


async def _run(frames: list[Frame]) -> Heard:
    hold, heard = SpeculativeHold(), Heard()
    tap = SpeculationTap(hold)
    await run_test(Pipeline([tap, hold, heard]), frames_to_send=frames)
    return heard


def inference(speculative: bool) -> LLMContextFrame:
    return LLMContextFrame(context=LLMContext(), speculation=speculative)


async def test_a_speculative_answer_waits_for_the_end_of_the_turn() -> None:
    heard = await _run(
        [
            UserStartedSpeakingFrame(),
            inference(True),
            *answer("Sure, let me check."),
            SleepFrame(sleep=0.3),
            UserStoppedSpeakingFrame(),
            SleepFrame(sleep=0.1),
        ]
    )
    stopped_at = next(t for t, f in heard.frames if isinstance(f, UserStoppedSpeakingFrame))
    released = [(t, f) for t, f in heard.frames if isinstance(f, (TTSAudioRawFrame, TTSTextFrame))]
    assert len(released) == 2
    assert all(t >= stopped_at for t, _ in released)


async def test_a_withdrawn_answer_reaches_no_one() -> None:
    heard = await _run(
        [
            UserStartedSpeakingFrame(),
            inference(True),
            *answer("Sure, let me check."),
            SleepFrame(sleep=0.2),
            EagerEndOfTurnCancelFrame(),
            UserStoppedSpeakingFrame(),  # the turn ends later, with more said
            inference(False),
            *answer("Your order left yesterday."),
            SleepFrame(sleep=0.1),
        ]
    )
    texts = [f.text for f in heard.answer() if isinstance(f, TTSTextFrame)]
    assert texts == ["Your order left yesterday."]
    audio = [f for f in heard.answer() if isinstance(f, TTSAudioRawFrame)]
    assert len(audio) == 1


async def test_an_ordinary_answer_is_not_held() -> None:
    heard = await _run(
        [UserStartedSpeakingFrame(), UserStoppedSpeakingFrame(), inference(False), *answer("Hi.")]
    )
    assert [f.text for f in heard.answer() if isinstance(f, TTSTextFrame)] == ["Hi."]


async def test_a_turn_confirmed_before_its_inference_arrives_is_not_held() -> None:
    # pipecat delivers system frames ahead of queued ones: the turn's end can overtake the
    # speculative inference it confirms, which must then not wait for a second end.
    heard = await _run(
        [UserStartedSpeakingFrame(), UserStoppedSpeakingFrame(), inference(True), *answer("Ok.")]
    )
    assert [f.text for f in heard.answer() if isinstance(f, TTSTextFrame)] == ["Ok."]


def test_the_llm_gate_tracks_a_speculation_but_holds_nothing() -> None:
    gate = LLMPassGate()
    gate.begin_speculation(True)
    out = gate.process(LLMFullResponseStartFrame(), FrameDirection.DOWNSTREAM)
    assert len(out) == 1 and gate.is_speculating  # passed on, still known to be speculative
