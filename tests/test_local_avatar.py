"""The local avatar's frame contract: steady video, paced audio in step, instant interruption."""

from __future__ import annotations

import time

import numpy as np
from pipecat.frames.frames import (
    Frame,
    InterruptionFrame,
    OutputImageRawFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import SleepFrame, run_test

from localagent.avatar.local import LocalAvatar
from localagent.avatar.motion import mouth_shape
from localagent.call.spoken_words import SpokenWords
from localagent.testing.frames import FrameLog

RATE = 24000
FPS = 25


def tone(seconds: float, amplitude: float = 0.5) -> bytes:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * np.pi * 220 * t) * amplitude * 32767).astype(np.int16).tobytes()


def tts(audio: bytes, chunk_s: float = 0.1) -> list[Frame]:
    step = int(RATE * chunk_s) * 2
    return [
        TTSAudioRawFrame(audio[i : i + step], RATE, 1, context_id="c1")
        for i in range(0, len(audio), step)
    ]


async def _run(frames: list[Frame], size: tuple[int, int] = (320, 180)) -> FrameLog:
    recorder = FrameLog()
    avatar = LocalAvatar(width=size[0], height=size[1], fps=FPS)
    await run_test(Pipeline([avatar, recorder]), frames_to_send=frames)
    return recorder


async def test_idle_frames_at_a_steady_rate_with_no_audio() -> None:
    rec = await _run([SleepFrame(sleep=2.0)])
    images = rec.of(OutputImageRawFrame)
    assert not rec.of(TTSAudioRawFrame)
    times = np.array([t for t, _ in images])
    fps = (len(times) - 1) / (times[-1] - times[0])
    assert abs(fps - FPS) < 2.5, fps
    assert np.percentile(np.diff(times), 95) < 2.5 / FPS  # no long stalls
    first = images[0][1]
    assert isinstance(first, OutputImageRawFrame)
    assert first.size == (320, 180) and len(first.image) == 320 * 180 * 3


async def test_speech_is_paced_in_real_time_and_in_step_with_video() -> None:
    audio = tone(1.0)
    rec = await _run([*tts(audio), TTSStoppedFrame(context_id="c1"), SleepFrame(sleep=1.6)])
    out = rec.of(TTSAudioRawFrame)
    assert b"".join(f.audio for _, f in out) == audio  # every sample, in order
    span = out[-1][0] - out[0][0]
    assert 0.85 < span < 1.2, f"audio not paced in real time: {span:.2f}s"
    # each audio chunk is one video frame long and followed by its image
    kinds = [type(f) for _, f in rec.seen]
    for i, kind in enumerate(kinds):
        if kind is TTSAudioRawFrame:
            assert kinds[i + 1] is OutputImageRawFrame
    stopped = rec.of(TTSStoppedFrame)[0][0]
    assert stopped >= out[-1][0], "TTSStoppedFrame overtook the audio it ends"


async def test_mouth_moves_with_loudness() -> None:
    def jaw(pcm: bytes) -> float:
        return mouth_shape(pcm, 24000)[0]

    assert jaw(b"\x00\x00" * 960) == 0.0
    assert jaw(tone(0.04, 0.5)) > 0.8
    assert 0.0 < jaw(tone(0.04, 0.01)) < jaw(tone(0.04, 0.2))
    rec = await _run([*tts(tone(0.6)), SleepFrame(sleep=0.8)])
    speaking = {f.image for _, f in rec.of(OutputImageRawFrame)[5:12]}  # type: ignore[attr-defined]
    silent = rec.of(OutputImageRawFrame)[-1][1]
    assert silent.image not in speaking  # type: ignore[attr-defined]


async def test_interruption_silences_voice_at_once() -> None:
    rec = await _run(
        [*tts(tone(3.0)), SleepFrame(sleep=0.5), InterruptionFrame(), SleepFrame(sleep=0.6)]
    )
    interrupted_at = rec.of(InterruptionFrame)[0][0]
    after = [t for t, _ in rec.of(TTSAudioRawFrame) if t > interrupted_at + 1.0 / FPS]
    assert after == [], f"{len(after)} audio chunks after the interruption"
    played = sum(len(f.audio) for _, f in rec.of(TTSAudioRawFrame)) / 2 / RATE  # type: ignore[attr-defined]
    assert 0.3 < played < 0.8
    assert rec.of(OutputImageRawFrame)[-1][0] > interrupted_at + 0.4  # video goes on, idle


async def test_interruption_drops_the_text_of_what_was_not_played() -> None:
    said, unsaid = TTSTextFrame("Heard.", "sentence"), TTSTextFrame("Never heard.", "sentence")
    rec = await _run(
        [
            *tts(tone(0.3)),
            said,
            *tts(tone(2.0)),
            unsaid,
            SleepFrame(sleep=0.8),
            InterruptionFrame(),
            SleepFrame(sleep=0.5),
        ]
    )
    texts = [f.text for _, f in rec.of(TTSTextFrame)]  # type: ignore[attr-defined]
    assert texts == ["Heard."], texts


async def test_words_are_released_as_their_audio_plays_and_cut_at_an_interruption() -> None:
    words = SpokenWords()
    sentence = TTSTextFrame("One two three four.", "sentence", context_id="c1")
    words.put("c1", sentence.text, [("One", 0.3), ("two", 0.6), ("three", 0.9), ("four.", 1.2)])
    recorder = FrameLog()
    avatar = LocalAvatar(width=320, height=180, fps=FPS, spoken_words=words)
    frames = [*tts(tone(1.2)), sentence, SleepFrame(sleep=0.75), InterruptionFrame()]
    await run_test(Pipeline([avatar, recorder]), frames_to_send=[*frames, SleepFrame(sleep=0.4)])
    released = [(t, f.text) for t, f in recorder.of(TTSTextFrame)]  # type: ignore[attr-defined]
    assert [text for _, text in released] == ["One", "two"], released
    first_audio = recorder.of(TTSAudioRawFrame)[0][0]
    # each word goes out when its audio has played, not with the sentence
    assert 0.2 < released[0][0] - first_audio < 0.45, released[0][0] - first_audio
    assert 0.5 < released[1][0] - first_audio < 0.75, released[1][0] - first_audio


async def test_render_delay_holds_speech_like_tavus() -> None:
    given, recorder = FrameLog(), FrameLog()
    avatar = LocalAvatar(width=320, height=180, fps=FPS, render_delay_s=0.3, render_jitter_s=0.05)
    await run_test(
        Pipeline([given, avatar, recorder]),
        frames_to_send=[*tts(tone(0.5)), SleepFrame(sleep=1.2)],
    )
    audio = recorder.of(TTSAudioRawFrame)
    first = audio[0][0] - given.of(TTSAudioRawFrame)[0][0]
    # held at least the render delay; the bound above it is generous (a busy machine's
    # scheduling is not what this measures)
    assert 0.3 <= first < 0.3 + 0.05 + 0.5, f"first audio after {first:.2f}s"
    assert b"".join(f.audio for _, f in audio) == tone(0.5)  # jitter never reorders
    # idle video keeps flowing while the speech is held (timed by order, not a wall clock)
    images = [at for at, _ in recorder.of(OutputImageRawFrame) if at < audio[0][0]]
    assert len(images) >= 3, f"{len(images)} frames before the held speech"


async def test_standby_avatar_draws_nothing_until_active() -> None:
    recorder = FrameLog()
    avatar = LocalAvatar(width=320, height=180, fps=FPS)
    avatar.active = False
    await run_test(Pipeline([avatar, recorder]), frames_to_send=[SleepFrame(sleep=0.5)])
    assert recorder.of(OutputImageRawFrame) == []


class _Hush(FrameProcessor):
    """Hushes the avatar on one marker frame and lifts the hush on another, as barge-in does."""

    def __init__(self, avatar: LocalAvatar) -> None:
        super().__init__()
        self._avatar = avatar
        self.at: list[float] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSTextFrame) and frame.text in ("<hush>", "<go on>"):
            self._avatar.hush(frame.text == "<hush>")
            self.at.append(time.monotonic())
            return
        await self.push_frame(frame, direction)


async def test_a_hush_pauses_voice_and_words_where_they_are_and_goes_on_from_there() -> None:
    recorder = FrameLog()
    avatar = LocalAvatar(width=320, height=180, fps=FPS)
    hush = _Hush(avatar)
    said_after = TTSTextFrame("Said after the hush.", "sentence")
    frames = [
        *tts(tone(1.0)),
        said_after,
        SleepFrame(sleep=0.4),
        TTSTextFrame("<hush>", "sentence"),
        SleepFrame(sleep=0.6),
        TTSTextFrame("<go on>", "sentence"),
        SleepFrame(sleep=1.0),
    ]
    await run_test(Pipeline([hush, avatar, recorder]), frames_to_send=frames)
    hushed_at, lifted_at = hush.at
    audio = recorder.of(TTSAudioRawFrame)
    during = [t for t, _ in audio if hushed_at + 1.0 / FPS < t < lifted_at]
    assert during == [], f"{len(during)} audio chunks while hushed"
    played = sum(len(f.audio) for _, f in audio) / 2 / RATE  # type: ignore[attr-defined]
    assert abs(played - 1.0) < 0.01, played  # nothing lost: all of it, after the hush
    text_at = [t for t, f in recorder.of(TTSTextFrame) if f.text == said_after.text]  # type: ignore[attr-defined]
    assert text_at and text_at[0] > lifted_at  # its words had not all been heard at the hush


async def test_an_interruption_during_a_hush_drops_what_it_held() -> None:
    recorder = FrameLog()
    avatar = LocalAvatar(width=320, height=180, fps=FPS)
    hush = _Hush(avatar)
    frames = [
        *tts(tone(2.0)),
        TTSTextFrame("Never heard.", "sentence"),
        SleepFrame(sleep=0.4),
        TTSTextFrame("<hush>", "sentence"),
        SleepFrame(sleep=0.3),
        InterruptionFrame(),
        *tts(tone(0.2)),  # the next answer plays: the interruption lifted the hush
        SleepFrame(sleep=0.5),
    ]
    await run_test(Pipeline([hush, avatar, recorder]), frames_to_send=frames)
    played = sum(len(f.audio) for _, f in recorder.of(TTSAudioRawFrame)) / 2 / RATE  # type: ignore[attr-defined]
    assert 0.5 < played < 0.75, played  # ~0.4 s before the hush, then the 0.2 s answer
    assert not [f for _, f in recorder.of(TTSTextFrame) if f.text == "Never heard."]  # type: ignore[attr-defined]
