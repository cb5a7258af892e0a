"""The avatar's video as it leaves for the browser: changed pictures only, stamped in real time.

pipecat's SmallWebRTC video track VP8-encodes every frame it is handed and stamps each one
1/30 s after the one before. An idle local avatar repeats the same picture for most of its
25 frames a second, and re-encoding an unchanged picture costs a third of a core, taken
from whisper just as the user stops speaking.

So the avatar's images go to `ChangedFramesTrack` instead, which sends a picture only when it
differs from the last one sent, or after `keepalive_s` so the browser keeps seeing the stream
alive; each frame is stamped with the wall clock, so sparse frames keep real timing for the
browser's jitter buffer and lip sync. When the encoder falls behind, the newest picture wins
over queued stale ones, so video never lags the voice. With VP8 negotiated (Chrome, Firefox)
the track encodes on its own low-priority thread (`localagent.avatar.video_encoder`); otherwise it
hands aiortc YUV frames to encode.
"""

from __future__ import annotations

import asyncio
import time

import av
import numpy as np
from aiortc import RTCPeerConnection, VideoStreamTrack
from aiortc.sdp import SessionDescription
from av import VideoFrame
from pipecat.frames.frames import Frame, OutputImageRawFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection

from localagent.avatar.video_encoder import TIME_BASE, Vp8Encoder, low_priority_thread, to_yuv

__all__ = ["AvatarVideoOut", "ChangedFramesTrack", "negotiated_video_codec"]

_PIXEL_FORMATS = {"RGB": "rgb24", "RGBA": "rgba", "BGRA": "bgra", "BGR": "bgr24"}


class ChangedFramesTrack(VideoStreamTrack):
    """An aiortc video track fed with images; repeats of the last picture are not sent."""

    def __init__(self, keepalive_s: float = 0.5) -> None:
        super().__init__()
        self.keepalive_s = keepalive_s
        self.encoder: Vp8Encoder | None = None  # set when the call negotiated VP8
        self._thread = low_priority_thread("avatar-video")
        self.offered = self.sent = 0
        self._pending: tuple[OutputImageRawFrame, float] | None = None
        self._last: bytes | None = None
        self._last_at = 0.0
        self._ready = asyncio.Event()
        self._start = time.monotonic()
        self._last_pts = -1

    def offer(self, frame: OutputImageRawFrame) -> bool:
        """Queue `frame` to be sent, replacing one not yet sent; False if it is a repeat."""
        self.offered += 1
        now = time.monotonic()
        image = frame.image
        repeat = self._last is not None and (image is self._last or image == self._last)
        if repeat and now - self._last_at < self.keepalive_s:
            return False
        self._last, self._last_at = image, now
        self._pending = frame, now
        self._ready.set()
        return True

    async def recv(self) -> VideoFrame | av.Packet:  # type: ignore[override]
        while self._pending is None:
            self._ready.clear()
            await self._ready.wait()
        (frame, offered_at), self._pending = self._pending, None
        self.sent += 1
        # Stamped when the picture was made, strictly increasing: gaps stay real gaps.
        pts = max(self._last_pts + 1, int((offered_at - self._start) * TIME_BASE.denominator))
        self._last_pts = pts
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._prepare, frame, pts)

    def _prepare(self, frame: OutputImageRawFrame, pts: int) -> VideoFrame | av.Packet:
        video = _to_video_frame(frame)
        if self.encoder is not None:
            return self.encoder.encode(video, pts)
        yuv = to_yuv(video)
        yuv.pts, yuv.time_base = pts, TIME_BASE
        return yuv

    def stop(self) -> None:
        super().stop()
        self._thread.shutdown(wait=False, cancel_futures=True)


def _to_video_frame(frame: OutputImageRawFrame) -> VideoFrame:
    width, height = frame.size
    pixel_format = _PIXEL_FORMATS.get(frame.format or "RGB", "rgb24")
    channels = len(frame.image) // (width * height)
    if channels == 3 and pixel_format in ("rgba", "bgra"):
        pixel_format = "rgb24"  # a mislabelled RGB image: trust the byte count
    array = np.frombuffer(frame.image, dtype=np.uint8).reshape(height, width, channels)
    return VideoFrame.from_ndarray(array, format=pixel_format)


class AvatarVideoOut(FrameProcessor):
    """Sits just before the output transport; hands the avatar's images to the call's
    `ChangedFramesTrack` instead of pipecat's track. Every other frame passes through."""

    def __init__(self, connection: SmallWebRTCConnection, *, keepalive_s: float = 0.5) -> None:
        super().__init__()
        self._connection = connection
        self.track = ChangedFramesTrack(keepalive_s)

    def attach(self) -> None:
        """Put the track on the call. Call it once the browser is connected, after the
        transport installed its own track (which it does on every connect)."""
        if negotiated_video_codec(self._connection.pc) == "VP8" and self.track.encoder is None:
            self.track.encoder = Vp8Encoder()
        self._connection.replace_video_track(self.track)

    async def cleanup(self) -> None:
        self.track.stop()  # aiortc closes the sender, not the track: free its thread here
        await super().cleanup()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM and isinstance(frame, OutputImageRawFrame):
            self.track.offer(frame)
        else:
            await self.push_frame(frame, direction)


def negotiated_video_codec(pc: RTCPeerConnection) -> str | None:
    """The codec aiortc sends video with: the first one in our answer's video section."""
    if pc.localDescription is None:
        return None
    for media in SessionDescription.parse(pc.localDescription.sdp).media:
        if media.kind == "video" and media.rtp.codecs:
            return media.rtp.codecs[0].mimeType.split("/")[1].upper()
    return None
