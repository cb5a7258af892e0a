"""Piper's lead-in silence is cut, and word timings still fall on the audio (real voice)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from localagent.call.lead_in import KEEP_S, SILENT_RMS, trim_lead_in
from localagent.call.phonemes import timed_phonemes
from localagent.call.spoken_words import word_ends
from localagent.testing.speech import aligned_voice


def _first_voiced_s(audio: np.ndarray, rate: int) -> float:
    step = int(rate * 0.005)
    for i in range(0, len(audio) - step, step):
        if np.sqrt(np.mean(audio[i : i + step] ** 2)) > SILENT_RMS:
            return i / rate
    raise AssertionError("no voice")


@pytest.mark.parametrize(
    "text", ["Hi, I'm Ada from the help desk.", "Well, let me check.", "Okay.", "Sure."]
)
def test_the_lead_in_is_cut_and_the_words_move_with_it(text: str) -> None:
    voice = aligned_voice()
    [chunk] = voice.synthesize(text, include_alignments=True)
    rate = chunk.sample_rate
    trimmed = trim_lead_in(chunk)
    cut = len(chunk.audio_float_array) - len(trimmed.audio_float_array)
    before, after = (
        _first_voiced_s(chunk.audio_float_array, rate),
        _first_voiced_s(trimmed.audio_float_array, rate),
    )
    # What is left of the silence is KEEP_S (to the 5 ms step), or all of it if shorter.
    assert after <= max(KEEP_S, before) + 0.005, (before, after)
    assert after >= min(KEEP_S, before) - 0.005, (before, after)
    assert np.array_equal(trimmed.audio_float_array, chunk.audio_float_array[cut:])
    assert len(trimmed.audio_int16_bytes) == 2 * len(trimmed.audio_float_array)
    # The cut came out of the "^" alignment alone, and out of the per-id samples too.
    assert trimmed.phoneme_alignments[0].phoneme == "^"
    assert [a.num_samples for a in trimmed.phoneme_alignments[1:]] == [
        a.num_samples for a in chunk.phoneme_alignments[1:]
    ]
    assert int(np.sum(chunk.phoneme_id_samples) - np.sum(trimmed.phoneme_id_samples)) == cut
    # Every phoneme after "^" now starts `cut` samples sooner, and so does every word end.
    old, new = timed_phonemes([chunk]), timed_phonemes([trimmed])
    assert old is not None and new is not None
    shifts = [o.start - n.start for o, n in zip(old[1:], new[1:], strict=True)]
    assert max(abs(s - cut) for s in shifts) < 0.01 * rate, (cut, shifts[:3])
    old_ends, new_ends = word_ends(voice, text, [chunk]), word_ends(voice, text, [trimmed])
    assert old_ends and new_ends and len(old_ends) == len(new_ends)
    for (word, end), (same, moved) in zip(old_ends, new_ends, strict=True):
        assert word == same and abs(end - cut / rate - moved) < 0.01, (word, end, moved)


def test_a_long_lead_in_is_cut_to_a_few_milliseconds() -> None:
    [chunk] = aligned_voice().synthesize("Hi, I'm Ada from the help desk.", include_alignments=True)
    trimmed = trim_lead_in(chunk)
    cut_s = (len(chunk.audio_float_array) - len(trimmed.audio_float_array)) / chunk.sample_rate
    assert cut_s >= 0.04, cut_s  # this sentence's lead-in is 70 ms


def test_a_chunk_without_alignments_is_left_alone() -> None:
    [chunk] = aligned_voice().synthesize("Hi there.", include_alignments=True)
    bare = dataclasses.replace(chunk, phoneme_alignments=None)
    assert trim_lead_in(bare) is bare
