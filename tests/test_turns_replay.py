"""The replay evaluator: recorded model outputs through the decisions in simulated time."""

from __future__ import annotations

import pytest

from localagent.turns.replay import (
    Decode,
    EarlySilence,
    Recording,
    ReplaySettings,
    Silence,
    replay_barge_in,
    replay_turn,
)
from localagent.turns.words import STATEMENT_WAIT_S

SETTINGS = ReplaySettings(answer_s=0.3, to_caller_s=0.2)


def _one(text: str, *, verdict: bool = True, verdict_s: float = 0.03) -> Recording:
    """Speech from 0.5 to 2.0 s: the VAD starts at 0.7, stops at 2.2; whisper's early
    decode starts at 2.1 and takes 0.15 s."""
    return Recording(
        starts=[0.7],
        silences=[Silence(2.2, 1, Decode(text, 0.2), verdict, verdict_s)],
        early_silences=[EarlySilence(2.1, 1, Decode(text, 0.15))],
        early_voices=[0.56],
    )


def test_a_question_ends_when_its_early_transcript_is_in() -> None:
    out = replay_turn(_one("Do you deliver on weekends?"), 2.0, SETTINGS)
    # the VAD's stop at 2.2 s; the early decode was done at 2.25 s
    assert out.ended == [pytest.approx(0.25)]
    assert out.heard == [pytest.approx(0.25 + 0.3 + 0.2)]
    assert out.voice_to_voice == pytest.approx(0.75) and not out.cut_in and not out.split


def test_without_early_stt_the_transcript_waits_for_the_stop() -> None:
    settings = ReplaySettings(answer_s=0.3, to_caller_s=0.2, early_stt=False)
    out = replay_turn(_one("Do you deliver on weekends?"), 2.0, settings)
    assert out.ended == [pytest.approx(0.4)]  # the stop at 2.2 s and a 0.2 s decode


def test_a_statement_is_prepared_and_released_at_its_wait() -> None:
    out = replay_turn(_one("My printer will not print anything."), 2.0, SETTINGS)
    assert out.ended == [pytest.approx(STATEMENT_WAIT_S)]
    # asked at the transcript (0.25 s), ready 0.3 s later: released then, heard 0.2 s on
    assert out.heard == [pytest.approx(max(STATEMENT_WAIT_S, 0.25 + 0.3) + 0.2)]
    assert out.speculated == 1 and out.withdrawn == 0


def test_a_slower_cpu_changes_only_what_waits_on_the_models() -> None:
    statement = _one("My printer will not print anything.")
    question = _one("Do you deliver on weekends?")
    slow = ReplaySettings(answer_s=0.3, to_caller_s=0.2)
    slow_statement = replay_turn(statement.slower(2.5, 8), 2.0, slow)
    assert slow_statement.ended == [pytest.approx(STATEMENT_WAIT_S)]
    # the early decode takes 0.375 s: done at 2.475 s
    assert replay_turn(question.slower(2.5, 8), 2.0, slow).ended == [pytest.approx(0.475)]


def test_an_end_in_a_pause_is_a_cut_in_and_a_split() -> None:
    rec = Recording(
        starts=[0.7, 2.9],
        silences=[
            Silence(1.7, 1, Decode("Yes.", 0.1), True, 0.03),
            Silence(3.7, 2, Decode("That is right.", 0.1), True, 0.03),
        ],
        early_voices=[0.56, 2.76],
    )
    out = replay_turn(rec, 3.5, SETTINGS)  # "Yes." then 1.2 s of pause, then the rest
    assert len(out.ended) == 2 and out.split and out.cut_in
    assert out.voice_to_voice is None


def test_a_backchannel_over_the_bot_is_hushed_and_lifted() -> None:
    rec = Recording(
        starts=[0.7],
        silences=[Silence(1.3, 1, Decode("Mm-hm.", 0.2), True, 0.03)],
        early_voices=[0.56],
    )
    out = replay_barge_in(rec, 0.5, SETTINGS)
    assert not out.stopped
    assert out.silenced_after == pytest.approx(0.06 + 0.2)  # hushed at the early voice


def test_an_interruption_over_the_bot_stops_it() -> None:
    rec = Recording(
        starts=[0.7],
        silences=[Silence(2.5, 1, Decode("Wait, I have a different question.", 0.2), True, 0.03)],
        early_voices=[0.56],
    )
    out = replay_barge_in(rec, 0.5, SETTINGS)
    assert out.stopped and out.silenced_after == pytest.approx(0.06 + 0.2)
