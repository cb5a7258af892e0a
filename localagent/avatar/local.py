"""The local avatar: turns TTS audio into a talking face, in step with the audio.

It stands where `TavusVideoService` stands in the pipeline and honours the same contract:
TTS audio goes in; paced speech audio and `OutputImageRawFrame`s at a steady frame rate come
out; an interruption silences voice and mouth at once. Audio is released one video frame's
worth per tick, so picture and sound leave together; other downstream frames wait behind the
audio queued before them, so their order is kept. A render delay and jitter can hold audio
back the way Tavus's rendering does, for tests and benchmarks that imitate it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from typing import NamedTuple, Protocol

from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    OutputImageRawFrame,
    StartFrame,
    SystemFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import (
    FrameDirection,
    FrameProcessor,
    FrameProcessorSetup,
)

from localagent.avatar.face import Face
from localagent.avatar.motion import Motion
from localagent.avatar.pose import Pose
from localagent.avatar.visemes import Viseme, VisemeTrack
from localagent.call.spoken_words import SpokenWords, grouped, piece_of

__all__ = ["Drawable", "LocalAvatar"]
# A hush (the caller spoke over the bot) that nothing lifts ends after this: whatever the
# barge-in decision lost, the bot is not left mute.
HUSH_LIMIT_S = 4.0


class Drawable(Protocol):
    """A face that draws a frame for a pose: the drawn `Face` or a `Portrait`."""

    face_width: float  # pixels: the motions are scaled to it

    def draw(self, pose: Pose) -> bytes: ...


class _Audio(NamedTuple):
    pcm: bytes
    context_id: str | None
    ready_at: float  # monotonic time it may play (render delay)
    interruptible: bool
    visemes: VisemeTrack | None = None  # its sentence's mouth shapes, once known
    offset: int = 0  # where `pcm` starts in its sentence's audio, bytes


def _interruptible(item: _Audio | Frame) -> bool:
    return item.interruptible


class LocalAvatar(FrameProcessor):
    def __init__(
        self,
        *,
        width: int = 1280,
        height: int = 720,
        fps: int = 25,
        render_delay_s: float = 0.0,
        render_jitter_s: float = 0.0,
        spoken_words: SpokenWords | None = None,
        face: Drawable | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._spoken_words = spoken_words
        self._sentence_bytes = 0  # audio queued since the last text frame
        self._face: Drawable = face if face is not None else Face(width, height)
        self._motion = Motion(fps, face_width=self._face.face_width)
        self._listening = False
        self._size = (width, height)
        self._fps = fps
        self._sample_rate = 24000
        self._render_delay_s = render_delay_s
        self._render_jitter_s = render_jitter_s
        self._last_ready_at = 0.0
        # Audio and the frames waiting behind it, in order.
        self._queue: deque[_Audio | Frame] = deque()
        self._ticker: asyncio.Task[None] | None = None
        self._speech_starts = asyncio.Event()
        self.frames_rendered = 0
        self._rng = random.Random(7)
        self._hushed_until = 0.0
        # False while standing by behind Tavus: no frames are drawn for nobody to see.
        self.active = True

    @property
    def speaking(self) -> bool:
        return any(isinstance(item, _Audio) for item in self._queue)

    def hush(self, on: bool) -> None:
        """Pause the voice and mouth where they are (the caller spoke over the bot), or go
        on from there; an interruption drops what a hush held."""
        self._hushed_until = time.monotonic() + HUSH_LIMIT_S if on else 0.0
        if on:
            self._motion.close_mouth()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.UPSTREAM:
            await self.push_frame(frame, direction)
        elif isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            self._ticker = self.create_task(self._tick_loop(), name="local-avatar-ticker")
        elif isinstance(frame, InterruptionFrame):
            # Like pipecat's output transport: what was queued and may be interrupted goes,
            # text included, so the words of a reply the caller never heard are not
            # released later into the captions, the record and the LLM's context.
            self._queue = deque(item for item in self._queue if not _interruptible(item))
            self._sentence_bytes = 0
            self._hushed_until = 0.0
            self._motion.close_mouth()
            await self.push_frame(frame, direction)
        elif isinstance(frame, (VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame)):
            self._listening = isinstance(frame, VADUserStartedSpeakingFrame)
            await self.push_frame(frame, direction)
        elif isinstance(frame, CancelFrame):
            await self._stop_ticker()
            await self.push_frame(frame, direction)
        elif isinstance(frame, TTSAudioRawFrame):
            if not self.speaking and not self._render_delay_s:
                self._speech_starts.set()  # start speaking now, not at the next tick
            self._queue.append(
                _Audio(frame.audio, frame.context_id, self._ready_at(), frame.interruptible)
            )
            self._sentence_bytes += len(frame.audio)
        elif isinstance(frame, TTSTextFrame) and self._queue and self._words_of(frame):
            pass  # queued word by word, in step with the audio that speaks each
        elif isinstance(frame, SystemFrame) or not self._queue:
            if isinstance(frame, EndFrame):
                await self._stop_ticker()
            await self.push_frame(frame, direction)
        else:
            if isinstance(frame, TTSTextFrame):
                self._sentence_bytes = 0
            self._queue.append(frame)

    # pipecat's BaseObject types setup() more loosely than FrameProcessor passes it.
    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        await super().setup(setup)
        self._sample_rate = setup.audio_out_sample_rate

    async def cleanup(self) -> None:
        await self._stop_ticker()
        await super().cleanup()

    async def _stop_ticker(self) -> None:
        if self._ticker is not None:
            await self.cancel_task(self._ticker)
            self._ticker = None

    async def _tick_loop(self) -> None:
        period = 1.0 / self._fps
        bytes_per_tick = int(self._sample_rate / self._fps) * 2
        next_at = time.monotonic()
        while True:
            audio, context_id, viseme = self._take_audio(bytes_per_tick)
            if audio:
                await self.push_frame(
                    TTSAudioRawFrame(audio, self._sample_rate, 1, context_id=context_id)
                )
                await asyncio.sleep(0)  # let the voice reach the transport before drawing
            if self.active or audio:
                await self._emit_image(audio, viseme)
            if await self._release_waiting_frames():
                return
            next_at += period
            delay = next_at - time.monotonic()
            if delay < -5 * period:  # fell far behind (a stall): restart the schedule
                next_at = time.monotonic()
            try:
                await asyncio.wait_for(self._speech_starts.wait(), timeout=max(0.0, delay))
                next_at = time.monotonic() - period  # re-anchor the frame clock on speech
            except TimeoutError:
                pass
            self._speech_starts.clear()

    def _ready_at(self) -> float:
        ready = time.monotonic() + self._render_delay_s
        if self._render_jitter_s:
            ready += self._rng.uniform(0.0, self._render_jitter_s)
        self._last_ready_at = max(ready, self._last_ready_at)  # never reorder audio
        return self._last_ready_at

    def _take_audio(self, wanted: int) -> tuple[bytes, str | None, Viseme | None]:
        """A tick's audio, and the mouth shape it says (None when its sentence has no
        shapes yet: the mouth then follows the sound's spectrum)."""
        out = bytearray()
        context_id: str | None = None
        viseme: Viseme | None = None
        now = time.monotonic()
        if now < self._hushed_until:
            return b"", None, None
        while self._queue and len(out) < wanted:
            head = self._queue[0]
            if not isinstance(head, _Audio) or head.ready_at > now:
                break
            self._queue.popleft()
            context_id = head.context_id
            need = wanted - len(out)
            piece = head.pcm[:need]
            if viseme is None and head.visemes is not None:
                at = head.offset / 2 / self._sample_rate
                viseme = head.visemes.over(at, at + len(piece) / 2 / self._sample_rate)
            out += piece
            if len(head.pcm) > need:
                self._queue.appendleft(
                    head._replace(pcm=head.pcm[need:], offset=head.offset + need)
                )
        return bytes(out), context_id, viseme

    def _words_of(self, sentence: TTSTextFrame) -> bool:
        """Queue `sentence` as its words, each after the audio that ends it; False if its
        word timings are unknown (the sentence then waits for all of its audio)."""
        ends, visemes = (
            self._spoken_words.pop_with_visemes(sentence.context_id, sentence.text)
            if self._spoken_words
            else (None, None)
        )
        sentence_bytes, self._sentence_bytes = self._sentence_bytes, 0
        if not ends:
            return False
        tail: deque[_Audio] = deque()  # the sentence's audio not yet played
        while self._queue and isinstance(last := self._queue[-1], _Audio):
            self._queue.pop()
            tail.appendleft(last)
        position = sentence_bytes - sum(len(a.pcm) for a in tail)
        # (byte offset in the sentence's audio, words ending there)
        marks = [(int(end_s * self._sample_rate) * 2, words) for end_s, words in grouped(ends)]
        for item in tail:
            item = item._replace(visemes=visemes, offset=position)
            while marks and marks[0][0] <= position + len(item.pcm):
                at, words = marks.pop(0)
                cut = max(0, at - position)
                if cut:
                    self._queue.append(item._replace(pcm=item.pcm[:cut]))
                    position += cut
                    item = item._replace(pcm=item.pcm[cut:], offset=position)
                self._queue.append(piece_of(sentence, words))
            if item.pcm:
                self._queue.append(item)
                position += len(item.pcm)
        for _, words in marks:  # rounding: what is left ends with the sentence
            self._queue.append(piece_of(sentence, words))
        return True

    async def _release_waiting_frames(self) -> bool:
        """Push the frames now at the head of the queue; True once the EndFrame went out."""
        while self._queue and not isinstance(self._queue[0], _Audio):
            frame = self._queue.popleft()
            assert isinstance(frame, Frame)
            await self.push_frame(frame)
            if isinstance(frame, EndFrame):
                self._ticker = None  # this task returns right after
                return True
        return False

    async def _emit_image(self, audio: bytes, viseme: Viseme | None = None) -> None:
        pose = self._motion.step(audio, self._sample_rate, self._listening, viseme)
        image = self._face.draw(pose)
        self.frames_rendered += 1
        await self.push_frame(OutputImageRawFrame(image=image, size=self._size, format="RGB"))
