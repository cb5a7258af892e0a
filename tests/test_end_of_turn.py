"""When the caller's turn is over: the words' rules, the decision in simulated time (no
sleeps: each test runs in milliseconds), and the pipecat adapter that carries it out."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from pipecat.clocks.system_clock import SystemClock
from pipecat.frames.frames import (
    EagerEndOfTurnCancelFrame,
    Frame,
    LLMRunFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.turns.user_stop.base_user_turn_stop_strategy import UserTurnStoppedParams
from pipecat.utils.asyncio.task_manager import TaskManager

from localagent.call.turn_stop import EvidenceTurnStop
from localagent.turns.actions import Action, AskAgain, EndTurn, Rejoin, Speculate, Withdraw
from localagent.turns.clock import SimClock, pass_time
from localagent.turns.end_of_turn import (
    CONTINUATION_S,
    EARLY_VOICE_GRACE_S,
    SMART_TURN_MAX_S,
    EndOfTurn,
)
from localagent.turns.words import (
    STATEMENT_WAIT_S,
    UNFINISHED_WAIT_S,
    UNSURE_WAIT_S,
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
        ("No.", "finished"),  # a short answer, though "no" may begin "no idea"
        ("Yes, please.", "finished"),
        ("no", "unfinished"),
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


VAD_LAG = 0.2  # the VAD starts and stops 0.2 s after the voice does
EARLY_VOICE_S = 0.064  # its first two voiced windows


class Sim:
    """An EndOfTurn in simulated time, driven as a call drives it; `log` has each action
    with the time from the end of the caller's last speech."""

    def __init__(self, speculate: bool = True, **kwargs: Any) -> None:
        self.clock = SimClock(1000.0)
        self.d = EndOfTurn(clock=self.clock, speculate=speculate, **kwargs)
        self.log: list[tuple[float, Action]] = []
        self.speech_end = 0.0
        self.d.turn_started()

    def take(self, actions: list[Action]) -> None:
        for a in actions:
            self.log.append((round(self.clock.now - self.speech_end, 3), a))
            if isinstance(a, EndTurn):
                self.take(self.d.turn_stopped())  # as pipecat's controller does

    def wait(self, seconds: float) -> None:
        """Let `seconds` pass, ticking at each deadline on the way."""
        pass_time(self.clock, self.clock.now + seconds, self.d, self.take)

    def speak(self, seconds: float = 1.0) -> None:
        """The caller speaks for `seconds`: the VAD hears its first voiced windows 64 ms in,
        and starts 0.2 s in."""
        self.wait(EARLY_VOICE_S)
        self.d.early_voice()
        self.wait(VAD_LAG - EARLY_VOICE_S)
        self.take(self.d.voice_started(VAD_LAG))
        self.wait(seconds - VAD_LAG)
        self.speech_end = self.clock.now

    def stop(
        self,
        text: str,
        *,
        stt_s: float = 0.05,
        verdict: bool | None = True,
        verdict_s: float = 0.03,
    ) -> None:
        """The VAD stops 0.2 s after the speech; whisper's `text` after `stt_s` more;
        smart-turn's `verdict` `verdict_s` after the VAD's stop (None: never)."""
        self.wait(VAD_LAG)
        self.take(self.d.voice_stopped(VAD_LAG))
        silence = self.d.silence
        events = [(stt_s, lambda: self.d.transcript(text))]
        if verdict is not None:
            events.append((verdict_s, lambda: self.d.smart_turn(verdict, silence)))
        elapsed = 0.0
        for at, signal in sorted(events, key=lambda e: e[0]):
            self.wait(at - elapsed)
            elapsed = at
            self.take(signal())

    def ended(self) -> list[tuple[float, EndTurn]]:
        return [(t, a) for t, a in self.log if isinstance(a, EndTurn)]

    def of(self, kind: type) -> list[Any]:
        return [a for _, a in self.log if isinstance(a, kind)]


def test_a_question_ends_at_once_without_smart_turns_verdict() -> None:
    s = Sim()
    s.speak()
    s.stop("What time do you open on Sunday?", verdict=None)
    assert s.ended() == [(0.25, EndTurn())]  # the VAD's stop and whisper's 50 ms


def test_a_statement_is_answered_ahead_and_released_at_the_statement_wait() -> None:
    s = Sim()
    s.speak()
    s.stop("I'm calling about my order.")
    s.wait(2.0)
    assert s.of(Speculate) == [Speculate("I'm calling about my order.")]
    assert s.ended() == [(STATEMENT_WAIT_S, EndTurn(confirms_speculation=True))]
    assert s.d.speculations.confirmed == 1 and s.of(Withdraw) == []


def _outcomes(verdict_s: float) -> list[tuple[list[tuple[float, EndTurn]], list[Any]]]:
    out = []
    for text in ["I'm calling about my order.", "Two.", "It's spelled B,", "Do you deliver?"]:
        s = Sim()
        s.speak()
        s.stop(text, verdict_s=verdict_s)
        s.wait(3.0)
        out.append((s.ended(), s.of(Speculate)))
    return out


@pytest.mark.parametrize("verdict_s", [0.03, 0.24])
def test_a_slow_smart_turn_changes_nothing_the_words_decide(verdict_s: float) -> None:
    # 30 ms: a CPU with AVX-512 VNNI; 240 ms: one with AVX2 only
    assert _outcomes(verdict_s) == _outcomes(0.0)


def test_a_verdict_later_than_the_statement_wait_only_delays_the_statement() -> None:
    # 450 ms: a busy CPU with AVX2 only; the verdict comes after the statement's wait
    slow, fast = _outcomes(0.45), _outcomes(0.0)
    assert [s for _, s in slow] == [s for _, s in fast]  # the same answers prepared
    assert slow[1:] == fast[1:]  # the words decided these: no change at all
    assert [a for _, a in slow[0][0]] == [a for _, a in fast[0][0]]  # the same end
    assert slow[0][0][0][0] == pytest.approx(VAD_LAG + 0.45)  # at the verdict


def test_a_turn_the_words_cannot_judge_waits_for_smart_turn() -> None:
    s = Sim(speculate=False)
    s.speak()
    s.stop("my printer", verdict_s=0.3)  # no punctuation: the words say nothing
    s.wait(2.0)
    assert s.ended() == [(0.5, EndTurn())]  # at the verdict
    s = Sim()
    s.speak()
    s.stop("my printer", verdict_s=0.3)
    s.wait(2.0)
    assert s.of(Speculate) == [Speculate("my printer")]  # started while it was awaited
    # smart-turn heard it finished: with an answer prepared, a statement's wait
    assert s.ended() == [(STATEMENT_WAIT_S, EndTurn(confirms_speculation=True))]


def test_without_a_verdict_smart_turns_longest_wait_ends_the_turn() -> None:
    s = Sim(speculate=False)
    s.speak()
    s.stop("my printer", verdict=None)
    s.wait(3.0)
    assert s.ended() == [(VAD_LAG + SMART_TURN_MAX_S, EndTurn())]


def test_smart_turns_unfinished_statement_waits_the_unsure_wait() -> None:
    s = Sim()
    s.speak()
    s.stop("My printer will not print anything.", verdict=False)
    s.wait(3.0)
    assert s.ended() == [(UNSURE_WAIT_S, EndTurn(confirms_speculation=True))]


def test_unfinished_words_wait_whatever_smart_turn_says() -> None:
    s = Sim()
    s.speak()
    s.stop("I'd like a table for, um,", verdict=True)
    s.wait(3.0)
    assert s.ended() == [(UNFINISHED_WAIT_S, EndTurn(confirms_speculation=True))]


def test_going_on_in_the_pause_withdraws_the_answer_and_keeps_one_turn() -> None:
    s = Sim()
    s.speak()
    s.stop("I'm calling about my order.")
    s.wait(0.4 - VAD_LAG - 0.05)  # a 0.4 s pause after the first sentence
    s.speak()
    s.stop("It hasn't arrived yet.")
    s.wait(3.0)
    assert s.of(Withdraw) == [Withdraw("I'm calling about my order.", "the caller went on")]
    whole = "I'm calling about my order. It hasn't arrived yet."
    assert s.of(Speculate)[-1] == Speculate(whole)
    assert len(s.ended()) == 1 and s.ended()[0][1].confirms_speculation
    # this caller pauses 0.4 s between sentences: their statement wait grows past it
    assert s.d.statement_wait_s == pytest.approx(0.4 + 0.35)
    assert s.ended()[0][0] == pytest.approx(0.75)


def test_going_on_just_after_the_end_rejoins_the_turn_once() -> None:
    s = Sim(statement_wait_s=0.4)
    s.speak()
    s.stop("I'm calling about my order.")
    s.wait(0.6 - VAD_LAG - 0.05)  # the end came at 0.4 s; the caller goes on at 0.6 s
    assert len(s.ended()) == 1
    s.speak()
    assert s.of(Rejoin) == [Rejoin()]  # at the VAD's start: barge-in has hushed the bot
    s.stop("It hasn't arrived yet.")
    s.wait(3.0)
    s.speak()  # long after that end: a new turn, not the same one going on
    assert s.of(Rejoin) == [Rejoin()] and s.d.speculations.rejoined == 1
    # and the caller's pause taught the decision to wait longer after a statement
    assert s.d.statement_wait_s == pytest.approx(0.6 + 0.35)


def test_a_new_turn_after_the_continuation_window_is_not_rejoined() -> None:
    s = Sim(statement_wait_s=0.4)
    s.speak()
    s.stop("I'm calling about my order.")
    s.wait(CONTINUATION_S + 0.5)
    s.speak()
    assert s.of(Rejoin) == []


def test_voice_heard_in_the_silence_defers_the_end() -> None:
    s = Sim()
    s.speak()
    s.stop("I'm calling about my order.")
    s.wait(STATEMENT_WAIT_S - 0.05 - VAD_LAG - 0.1)
    s.d.faint_voice()  # 0.1 s before the wait is over: maybe the caller going on
    s.wait(3.0)
    assert s.ended()[0][0] == pytest.approx(STATEMENT_WAIT_S - 0.1 + EARLY_VOICE_GRACE_S)


def test_a_stale_verdict_is_ignored() -> None:
    s = Sim()
    s.speak()
    s.wait(VAD_LAG)
    s.take(s.d.voice_stopped(VAD_LAG))
    first = s.d.silence
    s.speak()  # the caller went on before the verdict came
    s.take(s.d.smart_turn(True, first))
    assert s.ended() == []


def test_a_tool_call_withdrawn_after_the_turn_confirmed_it_is_asked_again() -> None:
    # The LLM withdraws a speculative answer that wants a tool call; when the turn's end
    # confirmed it first (the withdrawal was on its way up), nothing would answer the turn.
    s = Sim()
    s.speak()
    s.stop("My printer will not print anything.")
    s.wait(2.0)
    assert s.ended()[0][1].confirms_speculation
    s.take(s.d.llm_withdrew())
    assert s.of(AskAgain) == [AskAgain()]
    assert (s.d.speculations.confirmed, s.d.speculations.withdrawn) == (0, 1)
    s.take(s.d.llm_withdrew())  # asked once only
    assert len(s.of(AskAgain)) == 1


def test_a_tool_call_withdrawn_before_the_turn_ended_runs_at_its_end() -> None:
    s = Sim()
    s.speak()
    s.stop("My printer will not print anything.")
    s.take(s.d.llm_withdrew())
    s.wait(2.0)
    # an ordinary end of turn: it runs the inference itself, nothing extra is asked
    assert [a for _, a in s.ended()] == [EndTurn()] and s.of(AskAgain) == []
    assert (s.d.speculations.confirmed, s.d.speculations.withdrawn) == (0, 1)


def test_a_withdrawal_after_the_caller_went_on_asks_nothing() -> None:
    s = Sim()
    s.speak()
    s.stop("My printer will not print anything.")
    s.wait(2.0)
    s.take(s.d.turn_started())  # the caller speaks again: a new turn answers
    s.take(s.d.llm_withdrew())
    assert s.of(AskAgain) == []


# -- the pipecat adapter --------------------------------------------------------------


class _Verdict:
    """A turn analyzer whose verdict is given: the adapter's use of its public methods."""

    params = None

    def __init__(self, complete: bool) -> None:
        from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState

        self.state = EndOfTurnState.COMPLETE if complete else EndOfTurnState.INCOMPLETE
        self.cleared = 0

    def set_sample_rate(self, rate: int) -> None: ...
    def append_audio(self, audio: bytes, speech: bool) -> Any: ...
    def update_vad_start_secs(self, secs: float) -> None: ...
    def clear(self) -> None:
        self.cleared += 1

    async def analyze_end_of_turn(self) -> tuple[Any, None]:
        return self.state, None

    async def cleanup(self) -> None: ...


async def test_the_adapter_carries_out_the_decision_with_pipecats_triggers() -> None:
    stop = EvidenceTurnStop(
        decision=EndOfTurn(clock=SimClock(1000.0), speculate=True, statement_wait_s=0.0),
        turn_analyzer=cast(Any, _Verdict(True)),
    )
    pushed: list[Frame] = []
    ended: list[bool] = []
    speculated: list[object] = []

    @stop.event_handler("on_push_frame")
    async def on_push(_s: object, frame: Frame, _direction: object) -> None:
        pushed.append(frame)

    @stop.event_handler("on_user_turn_stopped")
    async def on_stopped(_s: object, params: UserTurnStoppedParams) -> None:
        ended.append(params.confirms_speculation)
        await stop.handle_user_turn_stopped()

    @stop.event_handler("on_user_turn_inference_triggered")
    async def on_inference(_s: object, speculation: object) -> None:
        speculated.append(speculation)

    tasks = TaskManager(loop=asyncio.get_running_loop())
    await stop.setup(FrameProcessorSetup(SystemClock(), tasks, cast(Any, None)))
    await stop.handle_user_turn_started()
    await stop.process_frame(VADUserStartedSpeakingFrame(start_secs=0.2))
    await stop.process_frame(VADUserStoppedSpeakingFrame(stop_secs=0.2))
    # words that cannot be judged: the answer starts while smart-turn's verdict is awaited
    await stop.process_frame(TranscriptionFrame("my printer", "caller", "now", finalized=True))
    assert [getattr(s, "text", None) for s in speculated] == ["my printer"] and ended == []
    for _ in range(100):  # the verdict's task runs when the loop gets to it
        if ended:
            break
        await asyncio.sleep(0)
    assert ended == [True]  # it confirms the answer already on its way
    # a tool call the LLM withdrew after the turn's end confirmed its answer: asked again
    await stop.process_frame(EagerEndOfTurnCancelFrame())
    assert [type(f) for f in pushed] == [LLMRunFrame]
    await stop.cleanup()
