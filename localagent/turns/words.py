"""What a caller's words say about whether their turn is over.

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
- otherwise smart-turn decides.

With speculation on, a statement ("I'm calling about my order.") waits until the statement
wait of silence, since another sentence often follows (`end_of_turn.EndOfTurn` prepares the
answer meanwhile).
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = [
    "READING_WAIT_MIN_S",
    "SHORT_ANSWER_WORDS",
    "STATEMENT_MARGIN_S",
    "STATEMENT_WAIT_MAX_S",
    "STATEMENT_WAIT_S",
    "UNFINISHED_WAIT_S",
    "UNSURE_WAIT_S",
    "Cue",
    "Wait",
    "ends_for_sure",
    "evidence_wait",
    "needs_smart_turn",
    "reading",
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
# Silence after a statement before the turn ends, when an answer is being prepared anyway.
# Shorter answers sooner and starts more answers too early; such a start is cheap (the
# caller's first sound hushes it, their going on takes the turn back and it is answered
# whole: `end_of_turn.EndOfTurn`), and below this the answer is not ready sooner anyway
# (`scripts/turns_replay.py --sweep`, docs/turn-taking.md). It adapts to the caller: each
# time they are heard going on after a pause (in a wait, or just after a turn ended), the
# wait grows to that pause plus STATEMENT_MARGIN_S, up to the maximum.
STATEMENT_WAIT_S = 0.5
STATEMENT_WAIT_MAX_S = 1.2
STATEMENT_MARGIN_S = 0.35
# The least a turn of digits or letters being read out waits, whatever this caller's pace.
READING_WAIT_MIN_S = 0.7
# The most words a short answer has ("Yes.", "Maria Lopez."): one with a full stop ends the
# turn at once. Three ("That sounds fine.") is as often the first of two sentences.
SHORT_ANSWER_WORDS = 2

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
    if stripped.endswith((",", "-", "—", "...", "…", ":", ";")):
        return "unfinished"
    if last in _TRAILING and not _short_answer(stripped, words):  # "No." is an answer
        return "unfinished"
    if stripped.endswith("?"):
        return "finished"
    if reading(stripped):  # the next digit or letter may follow after a pause
        return "unfinished"
    if stripped.endswith((".", "!")):
        return "finished"
    return "open"


def _short_answer(stripped: str, words: list[str]) -> bool:
    """One or two words that whisper heard as complete ("No.", "Yes, please.")."""
    return stripped.endswith((".", "!", "?")) and 0 < len(words) <= SHORT_ANSWER_WORDS


def reading(text: str) -> bool:
    """Digits or letters being read out one at a time (the last few words)."""
    words = re.findall(r"[a-z0-9']+", text.lower())
    reading = sum(w.isdigit() or w in _NUMBER_WORDS or len(w) == 1 for w in words[-3:])
    return reading >= 2 and len(words) >= 3


def ends_for_sure(text: str) -> bool:
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
    unsure_wait_s: float = UNSURE_WAIT_S,
) -> tuple[float, Wait]:
    """Seconds of silence (from the end of speech) the turn's words ask to wait, and why.

    0 leaves the decision to smart-turn (or to the words, for a turn that ends for sure).
    `pauses` are the silences inside this turn so far; `statement_wait_s` is None when
    statements do not wait (no speculative answer prepares them).
    """
    cue = transcript_cue(text)
    if cue == "unfinished":
        if reading(text) and pauses:  # this caller's pace between digits or letters
            wait = max(READING_WAIT_MIN_S, max(pauses) + STATEMENT_MARGIN_S)
            return min(unfinished_wait_s, wait), "unfinished"
        return unfinished_wait_s, "unfinished"
    if ends_for_sure(text):
        return 0.0, ""
    if smart_turn_finished:
        return (statement_wait_s, "statement") if statement_wait_s is not None else (0.0, "")
    if cue == "finished":  # smart-turn hears more to come, the words a finished statement
        return max(statement_wait_s or 0.0, unsure_wait_s), "statement"
    return 0.0, ""


def needs_smart_turn(text: str) -> bool:
    """Whether `evidence_wait` on `text` depends on smart-turn's verdict: not when the words
    say unfinished, nor when they end the turn for sure (so a slow verdict delays only the
    turns the words cannot judge)."""
    return transcript_cue(text) != "unfinished" and not ends_for_sure(text)
