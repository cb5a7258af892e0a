"""The Tavus text gate: text is released as the replica's audio plays, never ahead of it."""

from __future__ import annotations

import numpy as np
from pipecat.frames.frames import LLMFullResponseEndFrame, TTSTextFrame

from localagent.avatar.spoken_gate import SpokenGate

RATE = 16000


def voice(seconds: float) -> bytes:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * np.pi * 220 * t) * 8000).astype(np.int16).tobytes()


def silence(seconds: float) -> bytes:
    return bytes(2 * int(RATE * seconds))


def play(gate: SpokenGate, pcm: bytes, chunk_s: float = 0.02) -> list[str]:
    """Feed the replica's audio in 20 ms chunks; the names of the frames released."""
    step = 2 * int(RATE * chunk_s)
    out: list[str] = []
    for i in range(0, len(pcm), step):
        out += [
            type(f).__name__ + ":" + getattr(f, "text", "")
            for f in gate.received(pcm[i : i + step], RATE)
        ]
    return out


def text(words: str) -> TTSTextFrame:
    return TTSTextFrame(words, "sentence")


def test_text_waits_for_the_replica_to_speak_it() -> None:
    gate = SpokenGate()
    gate.sent(voice(1.0), RATE)
    gate.hold(text("One."))
    gate.sent(voice(1.0), RATE)
    gate.hold(text("Two."))
    gate.hold(LLMFullResponseEndFrame())
    # Tavus takes a while to start: its silence does not count as speech played.
    assert play(gate, silence(0.8)) == []
    assert play(gate, voice(0.9)) == []
    assert play(gate, voice(0.2)) == ["TTSTextFrame:One."]
    assert play(gate, voice(1.0)) == ["TTSTextFrame:Two.", "LLMFullResponseEndFrame:"]


def test_a_gap_in_the_tts_does_not_count_as_played() -> None:
    gate = SpokenGate()
    gate.sent(voice(0.5), RATE)
    gate.hold(text("Hello."))
    assert play(gate, voice(0.5)) == ["TTSTextFrame:Hello."]
    gate.sent(voice(0.5), RATE)  # the next sentence, after the replica fell silent
    gate.hold(text("Again."))
    assert play(gate, silence(1.0)) == []
    assert play(gate, voice(0.5)) == ["TTSTextFrame:Again."]


def test_interruption_drops_the_unspoken_text() -> None:
    gate = SpokenGate()
    gate.sent(voice(1.0), RATE)
    gate.hold(text("Heard."))
    gate.sent(voice(1.0), RATE)
    gate.hold(text("Never heard."))
    assert play(gate, voice(1.0)) == ["TTSTextFrame:Heard."]
    assert gate.interrupt() == []
    assert not gate.holding and play(gate, voice(1.0)) == []


def test_a_sentence_with_word_timings_is_released_word_by_word() -> None:
    gate = SpokenGate()
    gate.sent(voice(1.0), RATE)
    gate.hold(text("One two three."), [("One", 0.3), ("two", 0.6), ("three.", 1.0)])
    assert play(gate, voice(0.35)) == ["TTSTextFrame:One"]
    assert play(gate, voice(0.3)) == ["TTSTextFrame:two"]
    assert gate.interrupt() == []  # "three." was never played
