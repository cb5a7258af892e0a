"""The turn-taking corpus: its turns are labelled where they pause and where they end."""

from __future__ import annotations

import numpy as np

from localagent.testing.turn_corpus import FAMILIES, RATE, available, speak

PIPER_SLOW, PIPER_ROOM = FAMILIES[3], FAMILIES[4]


def test_a_turn_knows_its_pauses_and_its_end() -> None:
    u = speak(PIPER_SLOW, "two sentences", ["I'm calling about my order.", 0.5, "Thanks."])
    assert u.text == "I'm calling about my order. Thanks."
    [(start, end)] = u.pauses
    assert abs((end - start) - 0.5) < 1 / RATE and 0.8 < start < 3.0
    assert u.ends_at == len(u.pcm) / RATE  # the clean voice stops with its last word
    silent = u.pcm[int(start * RATE) + 10 : int(end * RATE) - 10]
    assert np.all(silent == 0)


def test_the_noisy_room_keeps_its_noise_past_the_end() -> None:
    u = speak(PIPER_ROOM, "short answer", ["Yes."])
    after = u.pcm[round(u.ends_at * RATE) :]
    assert len(after) == RATE and 50 < np.sqrt(np.mean(after.astype(float) ** 2)) < 3000


def test_families_without_their_program_are_left_out() -> None:
    import shutil

    have = available()
    assert PIPER_SLOW in have and PIPER_ROOM in have
    espeak = [f for f in FAMILIES if f.needs == "espeak-ng"]
    assert len(FAMILIES) >= 5 and len(espeak) == 3
    assert all(f in have for f in espeak) == bool(shutil.which("espeak-ng"))
