"""What the caller's words over the bot are: listening noises, or something to answer.

whisper writes a hum a dozen ways ("Mhm.", "MMICM.", "and then they jump."), so a
transcript is a backchannel when it is only backchannel words, one word that is not a stop
word, a hum written out, or more words than the voice it was heard in could hold.
"""

from __future__ import annotations

import re

__all__ = ["BACKCHANNEL_WORDS", "HUM", "MAX_WORDS_PER_S", "STOP_WORDS", "is_backchannel"]

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
