"""Holds the bot's text until the Tavus replica has spoken it.

pipecat's TavusVideoService passes the TTS text frames on as soon as it has sent their audio
to Tavus, so the captions, the transcript and the assistant turn in the LLM's context ran
ahead of the replica, and a barge-in left words the caller never heard in all of them. The
gate releases each frame once the replica's own audio has played as far as the audio sent
before it. The replica's stream is continuous (silence between utterances), so its clock
starts at the first voiced audio after it has caught up, and it never runs ahead of what was
sent. A sentence whose word timings the TTS reported (`localagent.call.spoken_words`) is
released word by word. On an interruption what is still held and may be interrupted is
dropped, as pipecat's output transport drops its queue.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from pipecat.frames.frames import Frame, TTSTextFrame

from localagent.call.spoken_words import WordEnds, grouped, piece_of

__all__ = ["SpokenGate"]

# -40 dBFS: well below speech, well above the zeros a silent replica sends.
_VOICED_RMS = 328.0
# A frame is released this close to its audio's end: resampling rounds durations.
_SLACK_S = 0.05


def _duration(pcm: bytes, rate: int, channels: int = 1) -> float:
    return len(pcm) / (2 * rate * channels)


def _voiced(pcm: bytes) -> bool:
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype=np.int16).astype(np.float32)
    return bool(len(samples)) and float(np.sqrt(np.mean(samples * samples))) >= _VOICED_RMS


class SpokenGate:
    def __init__(self) -> None:
        self._sent_s = 0.0  # audio handed to Tavus since the gate was last idle
        self._played_s = 0.0  # of that, what the replica has played back
        self._waiting_for_voice = True
        self._sentence_start_s = 0.0  # where the audio of the next sentence's text begins
        self._held: deque[tuple[float, Frame]] = deque()

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def sent(self, pcm: bytes, rate: int, channels: int = 1) -> None:
        if not self._held and self._played_s >= self._sent_s:
            self._sent_s = self._played_s = self._sentence_start_s = 0.0  # idle: a fresh clock
            self._waiting_for_voice = True
        self._sent_s += _duration(pcm, rate, channels)

    def wants(self, frame: Frame) -> bool:
        """Whether `frame` must wait: text to be spoken, or anything queued behind it."""
        return isinstance(frame, TTSTextFrame) or self.holding

    def hold(self, frame: Frame, words: WordEnds | None = None) -> None:
        """Hold `frame` until its audio has been played; a sentence with known `words`
        timings is held as its words, each until its own audio has been played."""
        if isinstance(frame, TTSTextFrame) and words:
            start = self._sentence_start_s
            for end_s, text in grouped(words):
                self._held.append((min(self._sent_s, start + end_s), piece_of(frame, text)))
        else:
            self._held.append((self._sent_s, frame))
        if isinstance(frame, TTSTextFrame):
            self._sentence_start_s = self._sent_s

    def received(self, pcm: bytes, rate: int, channels: int = 1) -> list[Frame]:
        """Count the replica's audio as played; the frames now due, in order."""
        if self._played_s >= self._sent_s:
            self._waiting_for_voice = True
        if self._waiting_for_voice:
            if self._played_s >= self._sent_s or not _voiced(pcm):
                return self._due()
            self._waiting_for_voice = False
        self._played_s = min(self._sent_s, self._played_s + _duration(pcm, rate, channels))
        return self._due()

    def interrupt(self) -> list[Frame]:
        """Drop what was not spoken; the uninterruptible frames held, to pass on now."""
        kept = [frame for _, frame in self._held if not frame.interruptible]
        self._held.clear()
        self._sent_s = self._played_s = self._sentence_start_s = 0.0
        self._waiting_for_voice = True
        return kept

    def release_all(self) -> list[Frame]:
        """Everything held, for the end of the call: nothing may be stuck behind audio."""
        frames = [frame for _, frame in self._held]
        self._held.clear()
        return frames

    def abandon(self) -> list[Frame]:
        """The replica is gone: its unspoken text is dropped, other frames pass on."""
        frames = [frame for _, frame in self._held if not isinstance(frame, TTSTextFrame)]
        self._held.clear()
        self._sent_s = self._played_s = self._sentence_start_s = 0.0
        return frames

    def _due(self) -> list[Frame]:
        due: list[Frame] = []
        while self._held and self._held[0][0] <= self._played_s + _SLACK_S:
            due.append(self._held.popleft()[1])
        return due
