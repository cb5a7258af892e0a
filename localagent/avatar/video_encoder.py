"""VP8 for the avatar's video, encoded on one low-priority thread of its own.

aiortc encodes video in the event loop's default executor at normal priority, with the
temporal denoiser on: right for a camera, wasted on a drawn face or one Tavus already
encoded once (22 ms per 1280x720 frame against 17 ms without it on a slow 2-core machine,
YUV conversion included: `scripts/avatar_bench.py`). With the video encoded that way beside
the voice, the bot's first audio reached the caller 60-90 ms later than with no video at
all (`scripts/bench.py`). A call is voice first: this encoder runs at nice +10, so under load
the picture waits (and the newest one wins in `ChangedFramesTrack`), not the voice.

aiortc sends packets a track hands it as they are, but then cannot honour a browser's
keyframe request; a keyframe every `keyframe_every_s` bounds a picture broken by loss.
"""

from __future__ import annotations

import contextlib
import fractions
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import av
from av import VideoFrame

__all__ = ["Vp8Encoder", "low_priority_thread", "to_yuv"]

TIME_BASE = fractions.Fraction(1, 90000)  # RTP's video clock
_NICE = 10


def low_priority_thread(name: str) -> ThreadPoolExecutor:
    """A one-thread executor whose thread runs at nice +10 (where the OS allows it)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name, initializer=_lower)


def _lower() -> None:
    # Linux applies a thread id to that thread alone; elsewhere this may not apply at all.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _NICE)


def to_yuv(frame: VideoFrame) -> VideoFrame:
    return frame if frame.format.name == "yuv420p" else frame.reformat(format="yuv420p")


class Vp8Encoder:
    """Real-time, constant-bitrate VP8 with aiortc's rate settings minus the denoiser, and
    still blocks skipped.
    Blocking: call it from the encoder thread."""

    def __init__(self, bitrate: int = 1_000_000, keyframe_every_s: float = 2.0) -> None:
        self.bitrate = bitrate
        self.keyframe_every = int(keyframe_every_s * TIME_BASE.denominator)
        self.keyframes = 0
        self._codec: av.VideoCodecContext | None = None
        self._last_keyframe_pts: int | None = None

    def encode(self, frame: VideoFrame, pts: int) -> av.Packet:
        """One packet for `frame` (any pixel format), stamped `pts` in 1/90000 s."""
        yuv = to_yuv(frame)
        codec = self._codec
        if codec is None or (codec.width, codec.height) != (yuv.width, yuv.height):
            codec = self._codec = self._open(yuv.width, yuv.height)
            self._last_keyframe_pts = None
        if self._last_keyframe_pts is None or pts - self._last_keyframe_pts >= self.keyframe_every:
            yuv.pict_type = av.video.frame.PictureType.I
            self._last_keyframe_pts = pts
            self.keyframes += 1
        yuv.pts, yuv.time_base = pts, TIME_BASE
        packet = av.Packet(b"".join(bytes(p) for p in codec.encode(yuv)))
        packet.pts, packet.time_base = pts, TIME_BASE
        return packet

    def _open(self, width: int, height: int) -> av.VideoCodecContext:
        codec = av.CodecContext.create("libvpx", "w")
        assert isinstance(codec, av.VideoCodecContext)
        codec.width, codec.height = width, height
        codec.pix_fmt = "yuv420p"
        codec.time_base = TIME_BASE
        codec.bit_rate = self.bitrate
        codec.gop_size = 1 << 30  # keyframes come on our clock, not a frame count
        codec.qmin, codec.qmax = 2, 56
        rate = str(self.bitrate)
        codec.options = {
            "bufsize": rate,
            "minrate": rate,
            "maxrate": rate,
            "cpu-used": "-10",
            "deadline": "realtime",
            "lag-in-frames": "0",
            "noise-sensitivity": "0",
            "overshoot-pct": "15",
            "undershoot-pct": "100",
            "partitions": "0",
            # Blocks this close to the last picture are skipped, not coded: most of a
            # talking face is still between two pictures. 9.7 ms a 720p picture (YUV
            # conversion included) against 14.4 ms at aiortc's 1, 690 kbit/s against 890,
            # the same lowest PSNR, 40 dB (scripts/avatar_bench.py, slow 2-core machine).
            "static-thresh": "200",
        }
        codec.thread_count = 1
        return codec
