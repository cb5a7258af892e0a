"""Barge-in: the caller's voice hushes the bot at once; only words interrupt it.

A real interruption has to silence the bot within about 0.3 s, and at that point nothing
tells "Wait, I have a different question" from "yeah" or a cough: whisper has not heard a
word yet. So the first sound of the caller while the bot speaks *hushes* it (the local
avatar stops releasing voice and mouth, and keeps the rest of the answer where it is), and
the words decide what that was:

- the caller keeps talking past `COMMIT_AFTER_S`, or the transcript holds more than
  backchannel words ("yeah", "mm-hm", "okay", ...) or a word like "no", "stop", "wait" →
  a real interruption: the user turn starts, and pipecat's interruption drops the rest of
  the answer, as before;
- the transcript is only backchannel words or one other word, a hum written out ("MMMM"),
  more words than that much voice could hold (whisper's guess at a hum), or nothing was
  heard (a cough, a door) → the bot resumes from the word it was hushed at, and it is not
  a turn;
- voice within `FRESH_ANSWER_S` of the bot starting an answer is the caller going on with
  the turn the bot took too early: it interrupts at once.

When the bot is not speaking, a turn starts at the VAD's start, as pipecat's own VAD
strategy does. Tavus cannot pause its replica, so with Tavus live there is no hush: the
bot talks on until the words decide, and a backchannel no longer stops it either.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.turns.types import ProcessFrameResult
from pipecat.turns.user_start import BaseUserTurnStartStrategy

__all__ = [
    "BACKCHANNEL_WORDS",
    "COMMIT_AFTER_S",
    "MAX_WORDS_PER_S",
    "BargeInStart",
    "is_backchannel",
]

# Speech that goes on this long after the VAD's last start is not a backchannel ("yeah",
# "mm-hm" and "okay" last 0.25-0.95 s in the corpus's voices; the VAD starts 0.2 s in).
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

BACKCHANNEL_WORDS = frozenset(
    re.findall(
        r"\S+",
        """
        yeah yea yep yup yes ya okay ok k right alright sure cool mm mhm mmhm mm-hm mm-hmm hm
        hmm uh-huh uhhuh uh huh ah oh i see got it gotcha fine good great nice wow really
        """,
    )
)


# Faster than anyone speaks (the corpus's quickest real words run at 4.3 a second): several
# words whisper wrote for less voice than that are its guess at a hum. tiny.en writes
# espeak's "mm-hm" as "Yeah, man, me, it can." or "and then they jump." (5.5-7 a second).
MAX_WORDS_PER_S = 5.0
# A hum written out as letters: "MMMM", "Hmm", "M. H. M. H."
HUM = re.compile(r"[mh]+")

# One word that is not a backchannel: whisper writes "mm-hm" a dozen ways ("Mhm.", "MMICM."),
# so any single word is one, except these.
STOP_WORDS = frozenset(
    re.findall(
        r"\S+",
        """
        no nope stop wait hold hey sorry excuse pardon what why cancel actually but hello
        hang quiet enough shh
        """,
    )
)


def is_backchannel(text: str, voiced_s: float | None = None) -> bool:
    """Whether a transcript is only listening noises: nothing the caller wants answered.

    `voiced_s`, the seconds of voice it was heard in, tells whisper's guesses at a hum
    (more words than anyone says in that time) from words; a stop word is always words.
    """
    words = [w.strip("-'") for w in re.findall(r"[a-z0-9'-]+", text.lower())]
    words = [w for w in words if w]
    if len(words) == 1 and words[0] not in STOP_WORDS:
        return True
    if all(w in BACKCHANNEL_WORDS or HUM.fullmatch(w) for w in words):
        return True
    too_fast = voiced_s is not None and len(words) > MAX_WORDS_PER_S * max(voiced_s, 0.1)
    return too_fast and not any(w in STOP_WORDS for w in words)


Hush = Callable[[bool], bool]  # hush(True) pauses the bot's voice, hush(False) resumes it;
# False when there is nothing it can pause (Tavus live)


class BargeInStart(BaseUserTurnStartStrategy):
    """A user turn start strategy that tells an interruption from a backchannel.

    Put it first among the start strategies; it consumes (STOP) the frames it decides on
    while the bot speaks, so a backchannel's transcript does not start a turn further on.
    """

    def __init__(
        self,
        *,
        hush: Hush,
        commit_after_s: float = COMMIT_AFTER_S,
        heard_nothing_s: float = HEARD_NOTHING_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._hush = hush
        self._commit_after_s = commit_after_s
        self._heard_nothing_s = heard_nothing_s
        self._bot_speaking = False
        self._bot_started_at = 0.0
        self._pending = False  # the caller spoke over the bot; the words decide
        self._hushed = False
        self._timer: asyncio.Task[None] | None = None
        self._voice_began: float | None = None  # while pending: the caller's voice now
        self._voiced_s = 0.0  # while pending: the caller's voice so far
        self.counts = {"interruptions": 0, "backchannels": 0, "noises": 0}

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, BotStartedSpeakingFrame):
            if not (self._bot_speaking or self._hushed):  # not a hushed answer going on
                self._bot_started_at = time.monotonic()
            self._bot_speaking = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False  # a hushed bot is not heard, but has not finished
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            if not (self._bot_speaking or self._hushed or self._pending):
                await self.trigger_user_turn_started()
                return ProcessFrameResult.STOP
            if time.monotonic() - self._bot_started_at < FRESH_ANSWER_S:
                await self._commit("the caller went on with their turn")
                return ProcessFrameResult.STOP
            if not self._pending:
                self._pending = True
                self._voiced_s = 0.0
                self._hushed = self._hushed or self._hush(True)
                logger.debug(f"{self}: the caller spoke over the bot (hushed: {self._hushed})")
            self._voice_began = time.monotonic() - frame.start_secs
            self._restart_timer(self._commit_after_s, self._commit, "talking on")
            return ProcessFrameResult.STOP
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and self._pending:
            if self._voice_began is not None:
                self._voiced_s += time.monotonic() - frame.stop_secs - self._voice_began
                self._voice_began = None
            self._restart_timer(self._heard_nothing_s, self._resume, "heard nothing")
            return ProcessFrameResult.STOP
        elif isinstance(frame, (TranscriptionFrame, InterimTranscriptionFrame)) and (
            self._pending or self._bot_speaking or self._hushed
        ):
            voiced = self._voiced_s if self._pending and self._voice_began is None else None
            if not is_backchannel(frame.text, voiced):
                await self._commit(f"said {frame.text!r}")
                return ProcessFrameResult.CONTINUE  # the turn's first words
            if isinstance(frame, TranscriptionFrame):
                self.counts["backchannels"] += 1
                await self.trigger_reset_aggregation()
                if self._pending:
                    await self._resume(f"backchannel {frame.text!r}")
            return ProcessFrameResult.STOP
        return ProcessFrameResult.CONTINUE

    def early_voice(self) -> None:
        """The VAD's first voiced windows (before its start): hush a speaking bot now, so
        it falls silent ~0.15 s sooner; lifted again if the VAD does not start."""
        if self._bot_speaking and not (self._pending or self._hushed):
            self._hushed = self._hush(True)
            if self._hushed:
                self._restart_timer(EARLY_HUSH_S, self._resume, "no voice after all")

    async def handle_user_turn_started(self) -> None:
        await self._settle()
        self._bot_speaking = False

    async def cleanup(self) -> None:
        await self._settle()
        await super().cleanup()

    def _restart_timer(self, delay: float, then: Callable[[str], Any], why: str) -> None:
        if self._timer is not None:
            self._timer.cancel()  # a timer only sleeps before it acts: nothing to clean up
        self._timer = self.task_manager.create_task(self._after(delay, then, why), f"{self}::timer")

    async def _after(self, delay: float, then: Callable[[str], Any], why: str) -> None:
        await asyncio.sleep(delay)
        self._timer = None
        await then(why)

    async def _commit(self, why: str) -> None:
        logger.debug(f"{self}: interruption ({why})")
        self.counts["interruptions"] += 1
        # The hush is not lifted here: the interruption that follows drops the answer it
        # holds and lifts it at the avatar, so no word slips out in between.
        self._hushed = False
        await self.trigger_user_turn_started()

    async def _resume(self, why: str) -> None:
        if why == "heard nothing":
            self.counts["noises"] += 1
        logger.debug(f"{self}: the bot goes on ({why})")
        await self._settle()

    async def _settle(self) -> None:
        """Leave the pending state: the hush lifts (after an interruption, nothing is left
        to resume)."""
        if self._timer is not None and self._timer is not asyncio.current_task():
            await self.task_manager.cancel_task(self._timer)
        self._timer = None
        if self._hushed:
            self._hush(False)
        self._pending = self._hushed = False
