"""End of turn from two kinds of evidence: how the speech sounds, and what the words say.

smart-turn hears intonation; whisper's transcript says things smart-turn cannot hear: a
final "?" or ".", a trailing "and", "with", "the", "um", or a comma where the caller is
reading out digits or spelling a name. On voices smart-turn was not trained on, each is
wrong on its own in its own way: smart-turn judged a clipped "Goodbye!" unfinished and
waited 1.4 s; a spelled "B, R, O" sounds finished after every letter. So:

- smart-turn says finished, the words say unfinished → wait for more, up to
  `UNFINISHED_WAIT_S` of silence from the end of speech;
- smart-turn says unfinished, the words say finished (a question, an exclamation, a short
  answer) → end the turn now, rather than wait out smart-turn's maximum;
- otherwise smart-turn decides, as before.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Literal

from pipecat.frames.frames import VADUserStoppedSpeakingFrame
from pipecat.turns.user_stop import TurnAnalyzerUserTurnStopStrategy

__all__ = ["UNFINISHED_WAIT_S", "EvidenceTurnStop", "transcript_cue"]

Cue = Literal["finished", "unfinished", "open"]

# Silence after which an unfinished-sounding transcript is taken as the end after all: longer
# than the pauses people leave mid-sentence (0.3-0.7 s in the corpus), short enough that a
# caller who trails off is still answered.
UNFINISHED_WAIT_S = 1.2

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
    # Digits or letters being read out one at a time: the next may follow after a pause.
    reading = sum(w.isdigit() or w in _NUMBER_WORDS or len(w) == 1 for w in words[-3:])
    if reading >= 2 and len(words) >= 3:
        return "unfinished"
    if stripped.endswith((".", "!")):
        return "finished"
    return "open"


def _ends_for_sure(text: str) -> bool:
    """A question, an exclamation or a short answer: the words alone may end the turn.

    A statement's full stop may not: "I'm calling about my order." is often followed by
    another sentence, and overruling smart-turn there split more multi-sentence turns in
    the corpus (26 of 30 against 20).
    """
    stripped = text.strip()
    return stripped.endswith(("?", "!")) or len(re.findall(r"[A-Za-z0-9']+", stripped)) <= 3


class EvidenceTurnStop(TurnAnalyzerUserTurnStopStrategy):
    """pipecat's smart-turn stop strategy, overruled by the transcript where it is clear.

    It overrides three private methods of `TurnAnalyzerUserTurnStopStrategy` and reads its
    turn state (`_text`, `_turn_complete`, ...): the class has no hook for a second opinion,
    and the package pins pipecat 1.x, whose strategy keeps this shape.
    """

    def __init__(self, *, unfinished_wait_s: float = UNFINISHED_WAIT_S, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._unfinished_wait_s = unfinished_wait_s
        self._speech_ended_at = 0.0
        self._hold: asyncio.Task[None] | None = None
        self.overruled = {"finished": 0, "unfinished": 0}  # how often the words decided

    async def _handle_vad_user_stopped_speaking(self, frame: VADUserStoppedSpeakingFrame) -> None:
        self._speech_ended_at = time.monotonic() - frame.stop_secs
        await super()._handle_vad_user_stopped_speaking(frame)

    async def _discard_pending_end_of_turn(self) -> None:
        await self._cancel_hold()
        await super()._discard_pending_end_of_turn()

    async def _maybe_trigger_user_turn_stopped(self) -> None:
        heard = self._text and (self._transcript_finalized or self._timeout_expired)
        if not heard or self._vad_user_speaking or not self._vad_stopped:
            await super()._maybe_trigger_user_turn_stopped()
            return
        cue = transcript_cue(self._text)
        silent_for = time.monotonic() - self._speech_ended_at
        if self._turn_complete and cue == "unfinished" and silent_for < self._unfinished_wait_s:
            if self._hold is None:
                self.overruled["unfinished"] += 1
                self._hold = self.task_manager.create_task(
                    self._end_after(self._unfinished_wait_s - silent_for), f"{self}::hold"
                )
            return
        if not self._turn_complete and cue == "finished" and _ends_for_sure(self._text):
            self.overruled["finished"] += 1
            self._turn_complete = True
        await super()._maybe_trigger_user_turn_stopped()

    async def _end_after(self, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
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
