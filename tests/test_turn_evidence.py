"""What a final transcript says about the end of the turn."""

from __future__ import annotations

import pytest

from localagent.call.turn_evidence import transcript_cue


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("What time do you open on Sunday?", "finished"),
        ("Goodbye!", "finished"),
        ("My printer will not print anything.", "finished"),
        ("Yes.", "finished"),
        ("Two.", "finished"),
        ("I'd like a table for, um,", "unfinished"),
        ("I'd like a table for um", "unfinished"),
        ("I need some help with", "unfinished"),
        ("It's spelled B,", "unfinished"),
        ("My code is four, seven,", "unfinished"),
        ("My code is 4 7", "unfinished"),
        ("and the", "unfinished"),
        ("okay so", "unfinished"),
        ("my printer", "open"),
        ("", "open"),
    ],
)
def test_transcript_cue(text: str, cue: str) -> None:
    assert transcript_cue(text) == cue
