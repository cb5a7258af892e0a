"""End of turn from two kinds of evidence: how the speech sounds, and what the words say.

smart-turn hears intonation; whisper's transcript says things smart-turn cannot hear: a
final "?" or ".", a trailing "and", "with", "the", "um", or a comma where the caller is
reading out digits or spelling a name. On voices smart-turn was not trained on, each is
wrong on its own in its own way: smart-turn judged a clipped "Goodbye!" unfinished and
waited 1.4 s; a spelled "B, R, O" sounds finished after every letter. So:

- the words say unfinished → wait for more, up to `UNFINISHED_WAIT_S` of silence from the
  end of speech; for digits or letters being read out, the pauses this caller has left
  between them in this turn plus a margin (at most that);
- smart-turn says unfinished, the words say finished (a question, an exclamation, a short
  answer) → end the turn now, rather than wait out smart-turn's maximum;
- smart-turn says unfinished, the words a finished statement → neither decides alone: wait
  `UNSURE_WAIT_S` (or the statement wait, if longer), not smart-turn's 1.5 s;
- otherwise smart-turn decides, as before.

With speculation on, a statement ("I'm calling about my order.") waits until
`STATEMENT_WAIT_S` of silence, since another sentence often follows, and every pending
decision starts the answer at once (`localagent.call.speculation`): the LLM and the TTS work
while the decision waits, the answer is released when the turn ends, and withdrawn if the
caller goes on.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any, Literal

from loguru import logger
from pipecat.frames.frames import (
    EagerEndOfTurnCancelFrame,
    Frame,
    LLMRunFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.turns.types import ProcessFrameResult, UserTurnSpeculation
from pipecat.turns.user_stop import TurnAnalyzerUserTurnStopStrategy

from localagent.call.speculation import SpeculationCounts

__all__ = [
    "STATEMENT_WAIT_MAX_S",
    "STATEMENT_WAIT_S",
    "UNFINISHED_WAIT_S",
    "UNSURE_WAIT_S",
    "EvidenceTurnStop",
    "evidence_wait",
    "transcript_cue",
]

Cue = Literal["finished", "unfinished", "open"]
Wait = Literal["", "unfinished", "statement"]  # what a pending decision waits on

# Silence after which an unfinished-sounding transcript is taken as the end after all: longer
# than the pauses people leave mid-sentence (0.3-0.7 s in the corpus), short enough that a
# caller who trails off is still answered.
UNFINISHED_WAIT_S = 1.2
# Silence after a statement that smart-turn heard as unfinished: its own wait (1.5 s) set
# the p90 (2.0 s at the caller) on one-sentence turns of voices it was not trained on.
UNSURE_WAIT_S = 1.0
# After early voice (the VAD's first voiced windows), how long a due end of turn waits for
# the VAD to start: its start_secs (0.2 s) and a margin.
EARLY_VOICE_GRACE_S = 0.3
# Faint voice this long after the end of speech is new sound, not the speech's own tail.
VOICE_AFTER_END_S = 0.1
# Silence after a statement before the turn ends, when an answer is being prepared anyway.
# It starts short and adapts to the caller: each time they are heard going on after a
# pause (in a wait, or just after a turn ended), the wait grows to that pause plus
# STATEMENT_MARGIN_S (the VAD hears voice 0.1-0.3 s after it starts), up to the maximum.
STATEMENT_WAIT_S = 0.7  # 0.55 split a 0.45 s pause in a real call (README: "traded")
STATEMENT_WAIT_MAX_S = 1.2
STATEMENT_MARGIN_S = 0.35
# The least a turn of digits or letters being read out waits, whatever this caller's pace.
READING_WAIT_MIN_S = 0.7
# The most words a short answer has ("Yes.", "Maria Lopez."): one with a full stop ends the
# turn at once. Three ("That sounds fine.") is as often the first of two sentences.
SHORT_ANSWER_WORDS = 2
# Voice this soon after a turn was judged over is the caller going on: it came too early.
CONTINUATION_S = 1.0

# Words a sentence does not end on: conjunctions, articles, prepositions, fillers, and
# possessives and verbs that need what follows.
_TRAILING = frozenset(
    re.findall(
        r"\S+",
        """
        and or but so because if then than that which who whose whom when where while although
        the a an this these those my your our their his her its some any every no
        to of for with without at by from in on into onto about over under between after before
        um uh er erm hmm like is are was were be been am will would can could should must
        i'd i'm i'll we're you're it's there's let's please
        """,
    )
)
_NUMBER_WORDS = frozenset(
    re.findall(r"\S+", "zero oh one two three four five six seven eight nine ten eleven twelve")
)


def transcript_cue(text: str) -> Cue:
    """What the final transcript says about whether the caller has finished."""
    stripped = text.strip()
    if not stripped:
        return "open"
    words = re.findall(r"[a-z0-9']+", stripped.lower())
    last = words[-1] if words else ""
    if stripped.endswith((",", "-", "—", "...", "…", ":", ";")) or last in _TRAILING:
        return "unfinished"
    if stripped.endswith("?"):
        return "finished"
    if _reading(stripped):  # the next digit or letter may follow after a pause
        return "unfinished"
    if stripped.endswith((".", "!")):
        return "finished"
    return "open"


def _reading(text: str) -> bool:
    """Digits or letters being read out one at a time (the last few words)."""
    words = re.findall(r"[a-z0-9']+", text.lower())
    reading = sum(w.isdigit() or w in _NUMBER_WORDS or len(w) == 1 for w in words[-3:])
    return reading >= 2 and len(words) >= 3


def _ends_for_sure(text: str) -> bool:
    """A question, an exclamation or a short answer: the words alone may end the turn.

    A statement's full stop may not: "I'm calling about my order." is often followed by
    another sentence, and overruling smart-turn there split more multi-sentence turns in
    the corpus (26 of 30 against 20). A short answer is one or two words: at three, "That
    sounds fine." followed by "Thank you very much." was cut into on the held-out set.
    """
    stripped = text.strip()
    if stripped.endswith(("?", "!")):
        return True
    # whisper punctuates what it heard as complete; a bare "7" or "well" is a fragment
    words = re.findall(r"[A-Za-z0-9']+", stripped)
    if not stripped.endswith(".") or not 0 < len(words) <= SHORT_ANSWER_WORDS:
        return False
    # ... and "So B." may be the first letter of a name being spelled
    return len(words) == 1 or len(words[-1]) > 1


def evidence_wait(
    text: str,
    *,
    smart_turn_finished: bool,
    pauses: list[float],
    statement_wait_s: float | None,
    unfinished_wait_s: float = UNFINISHED_WAIT_S,
) -> tuple[float, Wait]:
    """Seconds of silence (from the end of speech) the turn's words ask to wait, and why.

    0 leaves the decision to smart-turn (or to the words, for a turn that ends for sure).
    `pauses` are the silences inside this turn so far; `statement_wait_s` is None when
    statements do not wait (no speculative answer prepares them).
    """
    cue = transcript_cue(text)
    if cue == "unfinished":
        if _reading(text) and pauses:  # this caller's pace between digits or letters
            wait = max(READING_WAIT_MIN_S, max(pauses) + STATEMENT_MARGIN_S)
            return min(unfinished_wait_s, wait), "unfinished"
        return unfinished_wait_s, "unfinished"
    if _ends_for_sure(text):
        return 0.0, ""
    if smart_turn_finished:
        return (statement_wait_s, "statement") if statement_wait_s is not None else (0.0, "")
    if cue == "finished":  # smart-turn hears more to come, the words a finished statement
        return max(statement_wait_s or 0.0, UNSURE_WAIT_S), "statement"
    return 0.0, ""


class EvidenceTurnStop(TurnAnalyzerUserTurnStopStrategy):
    """pipecat's smart-turn stop strategy, overruled by the transcript where it is clear.

    It overrides three private methods of `TurnAnalyzerUserTurnStopStrategy` and reads its
    turn state (`_text`, `_turn_complete`, ...): the class has no hook for a second opinion,
    and the package pins pipecat 1.x, whose strategy keeps this shape.
    """

    def __init__(
        self,
        *,
        unfinished_wait_s: float = UNFINISHED_WAIT_S,
        speculate: bool = False,
        statement_wait_s: float = STATEMENT_WAIT_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._unfinished_wait_s = unfinished_wait_s
        self._speculate = speculate
        self._statement_wait_s = statement_wait_s
        self._speech_ended_at = 0.0
        self._turn_ended_at = 0.0  # monotonic, when the last turn was judged over
        self._early_voice_at = 0.0
        self.faint_voice_at: Callable[[], float] | None = None  # the VAD's, when it has one
        self._hold: asyncio.Task[None] | None = None
        self._waiting_on: Wait = ""  # the evidence the pending (or last) decision waited on
        self._heard: list[str] = []  # the turn's final transcripts so far
        self._pauses: list[float] = []  # s, the silences inside this turn so far
        self._speculation: UserTurnSpeculation | None = None
        self._confirmed: UserTurnSpeculation | None = None  # until the caller speaks again
        self.overruled = {"finished": 0, "unfinished": 0}  # how often the words decided
        self.speculations = SpeculationCounts()

    @property
    def _turn_text(self) -> str:
        return " ".join(t.strip() for t in self._heard if t.strip())

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, TranscriptionFrame) and frame.finalized:
            self._heard.append(frame.text)
        elif isinstance(frame, EagerEndOfTurnCancelFrame):
            await self._llm_withdrew()
        return await super().process_frame(frame)

    async def _llm_withdrew(self) -> None:
        """The LLM withdrew the speculative answer: it wanted a tool call, which must not
        run before the turn is over."""
        if self._speculation is not None:  # the turn's end runs the inference again
            self._speculation = None
            self.speculations.withdrawn += 1
        elif self._confirmed is not None:
            # The turn's end confirmed it while the tool call was on its way up: the
            # context has the turn, but nothing is answering it. Ask again, or the bot
            # stays silent until the caller speaks (likely what a CI run at a 0.55 s
            # statement wait hit, where the tool call and the wait's end coincide).
            logger.debug(f"{self}: the confirmed answer wanted a tool call: asking again")
            self._confirmed = None
            self.speculations.confirmed -= 1
            self.speculations.withdrawn += 1
            await self.push_frame(LLMRunFrame())

    def early_voice(self) -> None:
        """The VAD heard the first of what may be the caller going on."""
        self._early_voice_at = time.monotonic()

    def _caller_went_on_after(self, pause_s: float) -> None:
        """Evidence that this caller pauses this long between sentences (a longer silence
        is a new turn, not a pause)."""
        if pause_s > STATEMENT_WAIT_MAX_S - STATEMENT_MARGIN_S:
            return
        wait = pause_s + STATEMENT_MARGIN_S
        if wait > self._statement_wait_s:
            logger.debug(f"{self}: this caller pauses {pause_s:.2f} s: waiting {wait:.2f} s")
            self._statement_wait_s = wait

    async def handle_user_turn_started(self) -> None:
        self._heard = []
        self._confirmed = None
        self._pauses = []
        self._waiting_on = ""
        await super().handle_user_turn_started()

    async def trigger_user_turn_stopped(
        self, *, enable_user_speaking_frames: bool | None = None
    ) -> None:
        self._turn_ended_at = time.monotonic()
        speculation, self._speculation = self._speculation, None
        if speculation is not None and speculation.text == self._turn_text:
            self.speculations.confirmed += 1
            self._confirmed = speculation
            await self.trigger_user_turn_finalized(
                enable_user_speaking_frames=enable_user_speaking_frames,
                confirms_speculation=True,
            )
            return
        if speculation is not None:
            await self._withdraw(speculation, "the transcript changed")
        await super().trigger_user_turn_stopped(
            enable_user_speaking_frames=enable_user_speaking_frames
        )

    async def _start_speculation(self) -> None:
        """Answer the turn now, while its end is still being decided."""
        text = self._turn_text
        if not self._speculate or not text or self._vad_user_speaking:
            return
        if self._speculation is not None:
            if self._speculation.text == text:
                return
            await self._withdraw(self._speculation, "the transcript changed")
        self._speculation = UserTurnSpeculation(text=text)
        self.speculations.started += 1
        logger.debug(f"{self}: answering ahead of the turn's end: [{text}]")
        await self.trigger_user_turn_inference_triggered(speculation=self._speculation)

    async def _withdraw(self, speculation: UserTurnSpeculation, why: str) -> None:
        self._speculation = None
        self.speculations.withdrawn += 1
        logger.debug(f"{self}: withdrawing the early answer to [{speculation.text}] ({why})")
        await self.trigger_user_turn_speculation_cancelled()

    async def _handle_vad_user_started_speaking(self, frame: VADUserStartedSpeakingFrame) -> None:
        resumed_at = time.monotonic() - frame.start_secs
        went_on = time.monotonic() - self._turn_ended_at < CONTINUATION_S
        pause = self._pause_until(resumed_at)
        # the caller went on while a decision waited, or just after one ended the turn; a
        # pause after "um," or a digit says nothing about their pauses between sentences
        if self._waiting_on != "unfinished" and (
            self._hold is not None or (self._speculate and went_on)
        ):
            self._caller_went_on_after(pause)
        if self._heard and 0 < pause < self._unfinished_wait_s:
            self._pauses.append(pause)
        await super()._handle_vad_user_started_speaking(frame)

    def _pause_until(self, resumed_at: float) -> float:
        return resumed_at - self._speech_ended_at

    async def _handle_vad_user_stopped_speaking(self, frame: VADUserStoppedSpeakingFrame) -> None:
        self._speech_ended_at = time.monotonic() - frame.stop_secs
        await super()._handle_vad_user_stopped_speaking(frame)

    async def _discard_pending_end_of_turn(self) -> None:
        """The caller spoke again (or the turn ended): nothing decided so far stands."""
        await self._cancel_hold()
        if self._speculation is not None:
            await self._withdraw(self._speculation, "the caller went on")
        await super()._discard_pending_end_of_turn()

    async def _maybe_trigger_user_turn_stopped(self) -> None:
        heard = self._text and (self._transcript_finalized or self._timeout_expired)
        if not heard or self._vad_user_speaking or not self._vad_stopped:
            await super()._maybe_trigger_user_turn_stopped()
            return
        text = self._turn_text or self._text
        cue = transcript_cue(text)
        silent_for = time.monotonic() - self._speech_ended_at
        wait, waiting_on = evidence_wait(
            text,
            smart_turn_finished=self._turn_complete,
            pauses=self._pauses,
            statement_wait_s=self._statement_wait_s if self._speculate else None,
            unfinished_wait_s=self._unfinished_wait_s,
        )
        if waiting_on:
            self._waiting_on = waiting_on
        ends_now = wait > 0 or self._turn_complete or (cue == "finished" and _ends_for_sure(text))
        if ends_now and wait <= silent_for and self._voice_since_speech_ended():
            # the words would end the turn now, but something that may be the caller going
            # on ("No thanks," then "that will be all") has been heard in the silence: give
            # the VAD the time it takes to start on it (its start discards the hold)
            wait = silent_for + EARLY_VOICE_GRACE_S
        if silent_for < wait:
            if self._hold is None:
                self.overruled["unfinished"] += cue == "unfinished" and self._turn_complete
                self._hold = self.task_manager.create_task(
                    self._end_after(wait - silent_for), f"{self}::hold"
                )
            await self._start_speculation()
            return
        if wait:
            self._turn_complete = True  # the evidence's wait is over
        if not self._turn_complete and cue == "finished" and _ends_for_sure(text):
            self.overruled["finished"] += 1
            self._turn_complete = True
        if not self._turn_complete:
            await self._start_speculation()  # smart-turn waits for more silence
        await super()._maybe_trigger_user_turn_stopped()

    def _voice_heard_at(self) -> float:
        """When the VAD last heard voice, or faint voice, it has not (yet) started on."""
        return max(self._early_voice_at, self.faint_voice_at() if self.faint_voice_at else 0)

    def _voice_since_speech_ended(self) -> bool:
        heard_at = self._voice_heard_at()
        return (
            heard_at > self._speech_ended_at + VOICE_AFTER_END_S
            and time.monotonic() - heard_at < EARLY_VOICE_GRACE_S
        )

    async def _end_after(self, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            # Voice (or faint voice) the VAD has not yet started on: give it the time it
            # takes to start (its start discards this hold), rather than answer over it.
            since = time.monotonic() - self._voice_heard_at()
            if since < EARLY_VOICE_GRACE_S:
                await asyncio.sleep(EARLY_VOICE_GRACE_S - since)
        except asyncio.CancelledError:
            return
        self._hold = None
        if not self._vad_user_speaking:
            self._turn_analyzer.clear()
            await self.trigger_user_turn_stopped()

    async def _cancel_hold(self) -> None:
        if self._hold is not None and self._hold is not asyncio.current_task():
            await self.task_manager.cancel_task(self._hold)
        self._hold = None

    async def cleanup(self) -> None:
        await self._cancel_hold()
        await super().cleanup()
