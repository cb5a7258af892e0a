"""Barge-in: the caller's voice hushes the bot at once; only words interrupt it.

A real interruption has to silence the bot within about 0.3 s, and at that point nothing
tells "Wait, I have a different question" from "yeah" or a cough: whisper has not heard a
word yet. So the first sound of the caller while the bot speaks *hushes* it (`Hush`: the
local avatar stops releasing voice and mouth, and keeps the rest of the answer where it is),
and the words decide what that was:

- the caller keeps talking past `COMMIT_AFTER_S`, or the transcript holds more than
  backchannel words or a word like "no", "stop", "wait" (`backchannel.is_backchannel`) →
  a real interruption (`StartTurn`): the rest of the answer is dropped;
- the transcript is a backchannel, or nothing was heard (a cough, a door) → the bot resumes
  from the word it was hushed at (`LiftHush`), and it is not a turn;
- voice within `FRESH_ANSWER_S` of the bot starting an answer is the caller going on with
  the turn the bot took too early: it interrupts at once.

When the bot is not speaking, a turn starts at the VAD's start. A bot that cannot be hushed
(`can_hush()` False: a Tavus replica has no pause) talks on until the words decide.
"""

from __future__ import annotations

from collections.abc import Callable

from localagent.turns.actions import (
    Action,
    Clock,
    Handled,
    Hush,
    LiftHush,
    ResetAggregation,
    StartTurn,
)
from localagent.turns.backchannel import is_backchannel

__all__ = ["COMMIT_AFTER_S", "EARLY_HUSH_S", "FRESH_ANSWER_S", "HEARD_NOTHING_S", "BargeIn"]

# Speech that goes on this long after the VAD's last start is not a backchannel ("yeah",
# "mm-hm" and "okay" last 0.25-0.95 s in the corpus's voices; the VAD starts 0.1 s in).
COMMIT_AFTER_S = 0.9
# A hush on early voice (the VAD's first voiced windows) that the VAD's start does not
# follow within this is lifted: it was a click or a breath (a clipped "Wait," can take the
# VAD 0.6 s longer to start than its first voiced windows).
EARLY_HUSH_S = 0.8
# Voice this soon after the bot began an answer is the caller going on with their turn (the
# end of turn came too early), not a backchannel: it interrupts at once.
FRESH_ANSWER_S = 1.0
# After the caller stops, how long a hush waits for whisper's transcript before taking the
# sound for a cough (a short utterance transcribes in 0.2-0.4 s on a 2-core machine).
HEARD_NOTHING_S = 0.8

_USED = True  # `Handled.consumed`, spelt for reading


class BargeIn:
    """One call's barge-in decision (see the module). Not thread-safe: one driver."""

    def __init__(
        self,
        *,
        clock: Clock,
        can_hush: Callable[[], bool],
        commit_after_s: float = COMMIT_AFTER_S,
        heard_nothing_s: float = HEARD_NOTHING_S,
    ) -> None:
        self._clock = clock
        self._can_hush = can_hush
        self._commit_after_s = commit_after_s
        self._heard_nothing_s = heard_nothing_s
        self._bot_speaking = False
        self._bot_started_at = float("-inf")
        self._pending = False  # the caller spoke over the bot; the words decide
        self.hushed = False
        self._timer: tuple[float, Callable[[str], list[Action]], str] | None = None
        self._voice_began: float | None = None  # while pending: the caller's voice now
        self._voiced_s = 0.0  # while pending: the caller's voice so far
        self.counts = {"interruptions": 0, "backchannels": 0, "noises": 0}

    @property
    def deadline(self) -> float | None:
        """When `tick()` must be called next (clock time), or None."""
        return self._timer[0] if self._timer else None

    # -- signals ----------------------------------------------------------------------

    def bot_started(self) -> None:
        if not (self._bot_speaking or self.hushed):  # not a hushed answer going on
            self._bot_started_at = self._clock()
        self._bot_speaking = True

    def bot_stopped(self) -> None:
        self._bot_speaking = False  # a hushed bot is not heard, but has not finished

    def voice_started(self, start_secs: float) -> Handled:
        """The VAD started: voice began `start_secs` ago."""
        now = self._clock()
        if not (self._bot_speaking or self.hushed or self._pending):
            return Handled(_USED, (StartTurn("the caller spoke", interruption=False),))
        if now - self._bot_started_at < FRESH_ANSWER_S:
            return Handled(_USED, tuple(self._commit("the caller went on with their turn")))
        actions: list[Action] = []
        if not self._pending:
            self._pending = True
            self._voiced_s = 0.0
            actions += self._hush()
        self._voice_began = now - start_secs
        self._set_timer(self._commit_after_s, self._commit, "talking on")
        return Handled(_USED, tuple(actions))

    def voice_stopped(self, stop_secs: float) -> Handled:
        """The VAD stopped: the voice ended `stop_secs` ago."""
        if not self._pending:
            return Handled()
        if self._voice_began is not None:
            self._voiced_s += self._clock() - stop_secs - self._voice_began
            self._voice_began = None
        self._set_timer(self._heard_nothing_s, self._resume, "heard nothing")
        return Handled(_USED)

    def transcript(self, text: str, final: bool = True) -> Handled:
        """whisper's words, heard while the bot spoke (or was hushed) or not."""
        if not (self._pending or self._bot_speaking or self.hushed):
            return Handled()
        voiced = self._voiced_s if self._pending and self._voice_began is None else None
        if not is_backchannel(text, voiced):
            return Handled(actions=tuple(self._commit(f"said {text!r}")))  # the turn's words
        if not final:
            return Handled(_USED)
        self.counts["backchannels"] += 1
        actions: list[Action] = [ResetAggregation()]
        if self._pending:
            actions += self._resume(f"backchannel {text!r}")
        return Handled(_USED, tuple(actions))

    def early_voice(self) -> list[Action]:
        """The VAD's first voiced windows (before its start): hush a speaking bot now, so
        it falls silent ~0.15 s sooner; lifted again if the VAD does not start."""
        if not self._bot_speaking or self._pending or self.hushed:
            return []
        actions = self._hush()
        if actions:
            self._set_timer(EARLY_HUSH_S, self._resume, "no voice after all")
        return actions

    def turn_started(self) -> list[Action]:
        """A user turn started (this decision's `StartTurn`, or another strategy's)."""
        self._bot_speaking = False
        return self._settle()

    def tick(self) -> list[Action]:
        """The clock reached `deadline` (or later): act on whatever is due."""
        if self._timer is None or self._clock() < self._timer[0]:
            return []
        _, then, why = self._timer
        self._timer = None
        return then(why)

    def stop(self) -> list[Action]:
        """The call is over: leave nothing hushed."""
        return self._settle()

    # -- the decision -----------------------------------------------------------------

    def _hush(self) -> list[Action]:
        if self.hushed or not self._can_hush():
            return []
        self.hushed = True
        return [Hush()]

    def _set_timer(self, delay: float, then: Callable[[str], list[Action]], why: str) -> None:
        self._timer = (self._clock() + delay, then, why)

    def _commit(self, why: str) -> list[Action]:
        self.counts["interruptions"] += 1
        # The hush is not lifted here: the interruption that follows drops the answer it
        # holds and lifts it at the avatar, so no word slips out in between.
        self.hushed = False
        return [StartTurn(why)]

    def _resume(self, why: str) -> list[Action]:
        if why == "heard nothing":
            self.counts["noises"] += 1
        return self._settle()

    def _settle(self) -> list[Action]:
        """Leave the pending state: the hush lifts (after an interruption, nothing is left
        to resume)."""
        self._timer = None
        actions: list[Action] = [LiftHush()] if self.hushed else []
        self._pending = self.hushed = False
        return actions
