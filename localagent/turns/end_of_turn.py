"""When the caller's turn is over: the VAD, whisper and smart-turn weighed, in plain code.

The signals come in as method calls (`voice_started`, `voice_stopped`, `transcript`,
`smart_turn`, ...), each answered with the actions it leads to; time comes from the
injected clock, and a decision that waits sets `deadline`, at which the driver calls
`tick()`. The rules of the words are `words.py`'s; this module owns their timing:

- the turn ends only once the VAD has stopped and whisper's final transcript is in;
- smart-turn's verdict on the silence arrives when its inference is done (a thread in a
  call; 30 ms on one CPU, 240 ms on another). Only turns the words cannot judge wait for
  it (`words.needs_smart_turn`): a question or a trailing "and" is decided without it, so
  the product does the same on any CPU, later only where the model is slow;
- a wait is a deadline, not a sleep; voice heard in the silence that the VAD has not yet
  started on (its first voiced windows, or faint voice) defers an end the words would make
  now by `EARLY_VOICE_GRACE_S`, rather than answer over the caller going on;
- with `speculate`, every pending decision starts the answer at once (`Speculate`); the
  turn's end confirms it when its words are the same, else withdraws it (`Withdraw`); the
  caller going on withdraws it too.
- the statement wait adapts to the caller: each time they are heard going on after a
  pause (in a wait, or just after a turn ended), it grows to that pause plus
  `STATEMENT_MARGIN_S`, up to `STATEMENT_WAIT_MAX_S`.
- a turn taken too early is a cheap mistake: voice within `CONTINUATION_S` of an end of
  turn is the caller going on (`Rejoin`). Barge-in has hushed the answer on their first
  sound; the driver drops what the caller heard of it and answers the turn whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from localagent.turns.actions import Action, AskAgain, Clock, EndTurn, Rejoin, Speculate, Withdraw
from localagent.turns.words import (
    STATEMENT_MARGIN_S,
    STATEMENT_WAIT_MAX_S,
    STATEMENT_WAIT_S,
    UNFINISHED_WAIT_S,
    UNSURE_WAIT_S,
    Wait,
    ends_for_sure,
    evidence_wait,
    needs_smart_turn,
    transcript_cue,
)

__all__ = [
    "CONTINUATION_S",
    "EARLY_VOICE_GRACE_S",
    "SMART_TURN_MAX_S",
    "TRANSCRIPT_TIMEOUT_S",
    "EndOfTurn",
    "SpeculationCounts",
]

# After early voice (the VAD's first voiced windows), how long a due end of turn waits for
# the VAD to start: its start_secs and a margin.
EARLY_VOICE_GRACE_S = 0.3
# Faint voice this long after the end of speech is new sound, not the speech's own tail.
VOICE_AFTER_END_S = 0.1
# Voice this soon after a turn was judged over is the caller going on: it came too early.
CONTINUATION_S = 1.0
# Silence after the VAD's stop that ends a turn smart-turn judged unfinished (its stop_secs).
SMART_TURN_MAX_S = 1.5
# From the end of speech, how long a turn waits for whisper's final transcript before it
# takes the last one it has (segmented whisper finalizes each one: only a lost one waits).
TRANSCRIPT_TIMEOUT_S = 1.0


@dataclass
class SpeculationCounts:
    """How speculation went in one call (withdrawn ones cost a real LLM time)."""

    started: int = 0
    confirmed: int = 0
    withdrawn: int = 0
    rejoined: int = 0  # turns ended too soon that the caller went on with (`Rejoin`)


class EndOfTurn:
    """One call's end-of-turn decision (see the module). Not thread-safe: one driver."""

    def __init__(
        self,
        *,
        clock: Clock,
        speculate: bool = False,
        statement_wait_s: float = STATEMENT_WAIT_S,
        unfinished_wait_s: float = UNFINISHED_WAIT_S,
        unsure_wait_s: float = UNSURE_WAIT_S,
        smart_turn_max_s: float = SMART_TURN_MAX_S,
        transcript_timeout_s: float = TRANSCRIPT_TIMEOUT_S,
    ) -> None:
        self._clock = clock
        self._speculate = speculate
        self.statement_wait_s = statement_wait_s  # this caller's, as it has adapted
        self._unfinished_wait_s = unfinished_wait_s
        self._unsure_wait_s = unsure_wait_s
        self._smart_turn_max_s = smart_turn_max_s
        self._transcript_timeout_s = transcript_timeout_s
        # the caller
        self.voice_on = False  # the VAD hears the caller (started, not stopped)
        self.silence = 0  # counts the VAD's stops: names the silence a verdict is about
        self._speech_ended_at = float("-inf")  # the end of their last speech (VAD stop - lag)
        self._early_voice_at = float("-inf")
        self._faint_voice_at = float("-inf")
        self._turn_ended_at = float("-inf")
        self._rejoined_at = float("-inf")  # the end of turn the caller last went on after
        # this turn
        self._heard: list[str] = []  # its final transcripts so far
        self._pauses: list[float] = []  # the silences inside it so far
        self._waiting_on: Wait = ""  # the evidence the pending (or last) decision waited on
        self._confirmed: str | None = None  # the answer its end confirmed, until a new turn
        # this silence
        self._text = ""  # the latest transcript
        self._finalized = False
        self._transcript_late = False  # TRANSCRIPT_TIMEOUT_S passed without a final one
        self._vad_stopped = False
        self._complete = False  # the end is decided (smart-turn, or the words' wait over)
        self._verdict_due = False  # smart-turn's verdict on this silence is on its way
        self._transcript_deadline: float | None = None
        self._smart_turn_deadline: float | None = None
        self._hold_until: float | None = None  # the words' wait
        self._hold_deferred = False  # the hold was deferred for voice once already
        self._speculation: str | None = None  # the text a speculative answer answers
        self.speculations = SpeculationCounts()

    # -- what the driver reads --------------------------------------------------------

    @property
    def deadline(self) -> float | None:
        """When `tick()` must be called next (clock time), or None."""
        due = [self._transcript_deadline, self._smart_turn_deadline, self._hold_until]
        return min((d for d in due if d is not None), default=None)

    @property
    def turn_text(self) -> str:
        return " ".join(t.strip() for t in self._heard if t.strip())

    # -- signals ----------------------------------------------------------------------

    def turn_started(self) -> list[Action]:
        """A user turn started (whichever strategy started it)."""
        self._heard, self._pauses, self._waiting_on, self._confirmed = [], [], "", None
        self._text = ""
        return self._discard_pending()

    def turn_stopped(self) -> list[Action]:
        """A user turn ended (this decision's `EndTurn`, or another strategy's)."""
        self._text = ""
        return self._discard_pending()

    def voice_started(self, start_secs: float) -> list[Action]:
        """The VAD started: voice began `start_secs` ago."""
        now = self._clock()
        pause = now - start_secs - self._speech_ended_at
        went_on = now - self._turn_ended_at < CONTINUATION_S
        # the caller went on while a decision waited, or just after one ended the turn; a
        # pause after "um," or a digit says nothing about their pauses between sentences
        if self._waiting_on != "unfinished" and (
            self._hold_until is not None or (self._speculate and went_on)
        ):
            self._caller_went_on_after(pause)
        if self._heard and 0 < pause < self._unfinished_wait_s:
            self._pauses.append(pause)
        self.voice_on = True
        actions = self._discard_pending()
        if went_on and self._rejoined_at < self._turn_ended_at:
            # the turn was taken too early: it is answered whole once it is over
            self._rejoined_at = self._turn_ended_at
            self.speculations.rejoined += 1
            actions.append(Rejoin())
        return actions

    def voice_stopped(self, stop_secs: float) -> list[Action]:
        """The VAD stopped: the last voice ended `stop_secs` ago. smart-turn's verdict on
        this silence (`self.silence`) is expected next."""
        now = self._clock()
        self._speech_ended_at = now - stop_secs
        self.voice_on = False
        self._vad_stopped = True
        self.silence += 1
        self._verdict_due = True
        self._transcript_deadline = self._speech_ended_at + self._transcript_timeout_s
        self._smart_turn_deadline = now + self._smart_turn_max_s
        return self._maybe_end()

    def early_voice(self) -> None:
        """The VAD's first voiced windows, before it starts (it may be the caller going on)."""
        self._early_voice_at = self._clock()

    def faint_voice(self) -> None:
        """A window that may be voice, below the VAD's threshold."""
        self._faint_voice_at = self._clock()

    def transcript(self, text: str, final: bool = True) -> list[Action]:
        """whisper's transcript of the speech so far (interim ones are not final)."""
        if not final:
            self._finalized = False
            return []
        self._heard.append(text)
        self._text = text
        self._finalized = True
        actions = self._maybe_end()
        if not self.voice_on and not self._vad_stopped:  # words without the VAD's stop
            self._complete = True
            self._transcript_deadline = self._clock() + self._transcript_timeout_s
        return actions

    def smart_turn(self, complete: bool, silence: int) -> list[Action]:
        """smart-turn's verdict on silence number `silence` (stale ones are ignored)."""
        if silence != self.silence or not self._verdict_due:
            return []
        self._verdict_due = False
        self._complete = self._complete or complete
        return self._maybe_end()

    def llm_withdrew(self) -> list[Action]:
        """The LLM withdrew the speculative answer: it wanted a tool call, which must not
        run before the turn is over."""
        if self._speculation is not None:  # the turn's end asks the LLM again anyway
            self._speculation = None
            self.speculations.withdrawn += 1
        elif self._confirmed is not None:
            # The turn's end confirmed it while the tool call was on its way up: the
            # context has the turn, but nothing is answering it.
            self._confirmed = None
            self.speculations.confirmed -= 1
            self.speculations.withdrawn += 1
            return [AskAgain()]
        return []

    def tick(self) -> list[Action]:
        """The clock reached `deadline` (or later): act on whatever is due."""
        now = self._clock()
        actions: list[Action] = []
        if self._transcript_deadline is not None and now >= self._transcript_deadline:
            self._transcript_deadline = None
            self._transcript_late = True
            actions += self._maybe_end()
        if self._smart_turn_deadline is not None and now >= self._smart_turn_deadline:
            self._smart_turn_deadline = None
            if self._vad_stopped and not self.voice_on:
                self._verdict_due = False
                self._complete = True  # smart-turn's longest wait is over
                actions += self._maybe_end()
        if self._hold_until is not None and now >= self._hold_until:
            since = now - self._voice_heard_at()
            if since < EARLY_VOICE_GRACE_S and not self._hold_deferred:
                # voice the VAD has not (yet) started on: give it the time it takes to start
                # (its start discards this hold), rather than answer over it
                self._hold_until = now + EARLY_VOICE_GRACE_S - since
                self._hold_deferred = True
            else:
                self._hold_until = None
                if not self.voice_on:
                    actions += self._end()
        return actions

    # -- the decision -----------------------------------------------------------------

    def _maybe_end(self) -> list[Action]:
        heard = self._text and (self._finalized or self._transcript_late)
        if not heard or self.voice_on or not self._vad_stopped:
            return self._end_if_complete()
        now = self._clock()
        text = self.turn_text or self._text
        if self._verdict_due and needs_smart_turn(text):
            return self._start_speculation()  # the verdict decides; the answer can start
        cue = transcript_cue(text)
        silent_for = now - self._speech_ended_at
        wait, waiting_on = evidence_wait(
            text,
            smart_turn_finished=self._complete,
            pauses=self._pauses,
            statement_wait_s=self.statement_wait_s if self._speculate else None,
            unfinished_wait_s=self._unfinished_wait_s,
            unsure_wait_s=self._unsure_wait_s,
        )
        if waiting_on:
            self._waiting_on = waiting_on
        sure = cue == "finished" and ends_for_sure(text)
        ends_now = wait > 0 or self._complete or sure
        if ends_now and wait <= silent_for and self._voice_since_speech_ended(now):
            # the words would end the turn now, but something that may be the caller going
            # on ("No thanks," then "that will be all") has been heard in the silence: give
            # the VAD the time it takes to start on it (its start discards the hold)
            wait = silent_for + EARLY_VOICE_GRACE_S
        if silent_for < wait:
            if self._hold_until is None:
                self._hold_until = now + wait - silent_for
                self._hold_deferred = False
            return self._start_speculation()
        if wait:
            self._complete = True  # the evidence's wait is over
        if not self._complete and sure:
            self._complete = True
        actions = [] if self._complete else self._start_speculation()  # smart-turn waits on
        return actions + self._end_if_complete()

    def _end_if_complete(self) -> list[Action]:
        """The end, once it is decided and the words are in (pipecat's own condition)."""
        if not self._complete or not self._text:
            return []
        if self._finalized or self._transcript_deadline is None:
            return self._end()
        return []

    def _end(self) -> list[Action]:
        """End the turn: confirm the speculation if it answers these words, else withdraw it
        and ask anew. Whatever was pending for this silence is over."""
        self._turn_ended_at = self._clock()
        speculation, self._speculation = self._speculation, None
        self._text = ""
        self._discard_pending()
        if speculation is not None and speculation == self.turn_text:
            self.speculations.confirmed += 1
            self._confirmed = speculation
            return [EndTurn(confirms_speculation=True)]
        actions: list[Action] = []
        if speculation is not None:
            actions += self._withdraw(speculation, "the transcript changed")
        return [*actions, EndTurn()]

    def _start_speculation(self) -> list[Action]:
        """Answer the turn now, while its end is still being decided."""
        text = self.turn_text
        if not self._speculate or not text or self.voice_on or self._speculation == text:
            return []
        actions: list[Action] = []
        if self._speculation is not None:
            actions += self._withdraw(self._speculation, "the transcript changed")
        self._speculation = text
        self.speculations.started += 1
        return [*actions, Speculate(text)]

    def _withdraw(self, text: str, why: str) -> list[Action]:
        self._speculation = None
        self.speculations.withdrawn += 1
        return [Withdraw(text, why)]

    def _discard_pending(self) -> list[Action]:
        """The caller spoke again (or a turn boundary): nothing decided so far stands."""
        self._complete = self._finalized = self._transcript_late = False
        self._vad_stopped = self._verdict_due = False
        self._transcript_deadline = self._smart_turn_deadline = self._hold_until = None
        if self._speculation is not None:
            return self._withdraw(self._speculation, "the caller went on")
        return []

    def _caller_went_on_after(self, pause_s: float) -> None:
        """Evidence that this caller pauses this long between sentences (a longer silence
        is a new turn, not a pause)."""
        if pause_s > STATEMENT_WAIT_MAX_S - STATEMENT_MARGIN_S:
            return
        self.statement_wait_s = max(self.statement_wait_s, pause_s + STATEMENT_MARGIN_S)

    def _voice_heard_at(self) -> float:
        """When the VAD last heard voice, or faint voice, it has not (yet) started on."""
        return max(self._early_voice_at, self._faint_voice_at)

    def _voice_since_speech_ended(self, now: float) -> bool:
        heard_at = self._voice_heard_at()
        return (
            heard_at > self._speech_ended_at + VOICE_AFTER_END_S
            and now - heard_at < EARLY_VOICE_GRACE_S
        )
