"""The real-speech corpus: every clip there with its source and licence, the sets apart,
each turn labelled where its speech ends."""

from __future__ import annotations

import json

import numpy as np
import pytest

from localagent.testing import real_speech, turn_corpus
from localagent.testing.real_speech import DATA_DIR, RATE, SETS, clip, measure, speak


def _clips(name: str) -> set[str]:
    s = SETS[name]
    used = {p for _, pieces in s.turns for p in pieces if isinstance(p, str)}
    return used | set(s.backchannels) | set(s.interruptions)


def test_every_clip_has_its_source_licence_and_transcript() -> None:
    index = json.loads((DATA_DIR / "index.json").read_text())
    for name in SETS:
        for ident in _clips(name):
            entry = index["clips"][ident]
            source = index["sources"][entry["source"]]
            assert source["licence"].startswith(("CC BY 4.0", "Public domain"))
            assert entry["transcript"] and len(entry["commit"]) == 40 and entry["repo"]
            assert (DATA_DIR / f"{ident}.flac").exists()


def test_the_held_out_set_shares_no_clip_with_the_tuned_one() -> None:
    assert not _clips("real") & _clips("real-held-out")


def test_a_clip_is_its_recorded_length() -> None:
    entry = json.loads((DATA_DIR / "index.json").read_text())["clips"]["ls-251-0002"]
    pcm = clip("ls-251-0002")
    assert pcm.dtype == np.int16 and len(pcm) / RATE > entry["speech_s"][1]


@pytest.mark.parametrize("name", sorted(SETS))
def test_each_turn_is_labelled_where_its_speech_ends(name: str) -> None:
    for kind, pieces in SETS[name].turns:
        u = speak(kind, pieces)
        length = len(u.pcm) / turn_corpus.RATE
        assert 0 <= u.starts_at < u.ends_at <= length
        assert all(u.starts_at <= a < b <= u.ends_at for a, b in u.pauses)
        # the chosen pauses between clips are among the turn's pauses
        chosen = [p for p in pieces if isinstance(p, float)]
        assert len(u.pauses) >= len(chosen)
        assert real_speech.speaker(pieces)


def test_kennedys_pauses_are_measured_inside_his_sentence() -> None:
    u = speak("pauses mid-sentence", ["jfk"])
    long = [b - a for a, b in u.pauses if b - a > 1.0]
    assert len(long) == 2  # after "Americans," and after "can do for you,"


def test_measure_finds_speech_and_the_pause_inside_it() -> None:
    t = np.arange(int(0.5 * RATE)) / RATE
    tone = (np.sin(2 * np.pi * 200 * t) * 8000).astype(np.int16)
    quiet = np.zeros(int(0.3 * RATE), np.int16)
    speech = measure(np.concatenate([quiet, tone, quiet, tone, quiet]))
    assert speech.start == pytest.approx(0.3, abs=0.011)
    assert speech.end == pytest.approx(1.6, abs=0.011)
    assert [(round(a, 2), round(b, 2)) for a, b in speech.pauses] == [(0.8, 1.1)]
