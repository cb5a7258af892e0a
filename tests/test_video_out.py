"""The avatar's outgoing video: repeats are not re-encoded, timing stays real, none lags."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import numpy as np
from aiortc import RTCPeerConnection
from aiortc.rtcrtpsender import RTCRtpSender
from av import VideoFrame
from pipecat.frames.frames import OutputImageRawFrame, TextFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.tests.utils import run_test
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection

from localagent.avatar.face import Face
from localagent.avatar.video_encoder import Vp8Encoder
from localagent.avatar.video_out import AvatarVideoOut, ChangedFramesTrack, negotiated_video_codec

W, H = 160, 90


def image(value: int, channels: int = 3) -> bytes:
    return bytes([value]) * (W * H * channels)


def picture(value: int, fmt: str = "RGB") -> OutputImageRawFrame:
    return OutputImageRawFrame(image=image(value, len(fmt)), size=(W, H), format=fmt)


async def test_a_repeated_picture_is_sent_once_then_only_as_keepalive() -> None:
    track = ChangedFramesTrack(keepalive_s=0.3)
    assert track.offer(picture(10))
    first = await track.recv()
    # An equal picture in new bytes is still a repeat.
    assert [track.offer(picture(10)) for _ in range(5)] == [False] * 5
    await asyncio.sleep(0.35)
    assert track.offer(picture(10)), "no keepalive after keepalive_s"
    keepalive = await track.recv()
    assert track.offer(picture(20)), "a changed picture was held back"
    assert (track.offered, track.sent) == (8, 2)
    assert keepalive.pts - first.pts >= 0.3 * 90000


async def test_the_newest_picture_wins_and_stamps_follow_the_wall_clock() -> None:
    track = ChangedFramesTrack()
    for value in (1, 2, 3):  # the encoder was busy: only the newest is worth sending
        track.offer(picture(value))
    a = await track.recv()
    assert abs(int(a.to_ndarray(format="rgb24")[0, 0, 0]) - 3) <= 2
    await asyncio.sleep(0.4)
    track.offer(picture(4))
    b = await track.recv()
    gap = (b.pts - a.pts) * float(b.time_base)
    assert 0.35 < gap < 1.0, f"pts gap {gap:.3f}s for a 0.4s pause"
    # No picture waiting: recv waits for one rather than sending a stale repeat.
    waiting = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0.1)
    assert not waiting.done()
    track.offer(picture(5))
    last = (await asyncio.wait_for(waiting, 2)).to_ndarray(format="rgb24")
    assert abs(int(last[0, 0, 0]) - 5) <= 2


async def test_rgba_pictures_keep_their_colours() -> None:
    track = ChangedFramesTrack()
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    track.offer(OutputImageRawFrame(image=rgba.tobytes(), size=(W, H), format="RGBA"))
    frame = await track.recv()
    assert (frame.width, frame.height) == (W, H)
    r, g, b = (int(v) for v in frame.to_ndarray(format="rgb24")[5, 5])
    assert r > 190 and g < 10 and b < 10, (r, g, b)


async def test_images_go_to_the_track_and_other_frames_pass() -> None:
    connection = SmallWebRTCConnection()
    out = AvatarVideoOut(connection)
    received, _ = await run_test(
        Pipeline([out]),
        frames_to_send=[picture(1), TextFrame("hi"), picture(1), picture(2)],
        expected_down_frames=[TextFrame],
    )
    assert (out.track.offered, out.track.sent) == (3, 0)
    assert out.track.offer(picture(3))
    await connection.disconnect()


@contextlib.asynccontextmanager
async def webrtc_call(
    track: ChangedFramesTrack, prefer: str | None = None
) -> AsyncIterator[tuple[RTCPeerConnection, list[tuple[float, VideoFrame]]]]:
    """Two aiortc peers on loopback, connected: the browser's side offers as the page does
    (preferring codec `prefer`), `track`'s side answers. Yields the answering peer and the
    frames the browser's side receives, with their arrival times."""
    receiver, sender = RTCPeerConnection(), RTCPeerConnection()
    transceiver = receiver.addTransceiver("video", direction="recvonly")
    if prefer is not None:
        codecs = RTCRtpSender.getCapabilities("video").codecs
        transceiver.setCodecPreferences([c for c in codecs if c.mimeType == f"video/{prefer}"])
    got: list[tuple[float, VideoFrame]] = []
    readers: list[asyncio.Future[None]] = []

    @receiver.on("track")
    def on_track(remote: object) -> None:
        async def read() -> None:
            while True:
                frame = await remote.recv()  # type: ignore[attr-defined]
                got.append((time.monotonic(), frame))

        readers.append(asyncio.ensure_future(read()))

    try:
        await receiver.setLocalDescription(await receiver.createOffer())
        await sender.setRemoteDescription(receiver.localDescription)
        sender.addTrack(track)
        await sender.setLocalDescription(await sender.createAnswer())
        await receiver.setRemoteDescription(sender.localDescription)
        for _ in range(200):
            if sender.connectionState == "connected":
                break
            await asyncio.sleep(0.05)
        yield sender, got
    finally:
        await sender.close()
        await receiver.close()
        for reader in readers:
            reader.cancel()


async def test_an_idle_face_costs_a_few_frames_a_second_over_real_webrtc() -> None:
    """25 offers a second of a near-still face arrive as far fewer frames, encoded by our
    VP8 encoder, decodable, and stamped with their real spacing."""
    track = ChangedFramesTrack(keepalive_s=0.5)
    async with webrtc_call(track) as (sender, got):
        assert negotiated_video_codec(sender) == "VP8"
        track.encoder = Vp8Encoder()
        face = Face(320, 180)
        offered_at: list[float] = []
        for i in range(50):  # two seconds at 25 fps: still, then one step of sway
            dx = 0 if i < 30 else 1
            frame = OutputImageRawFrame(face.render(0.0, 0.0, dx, 0), (320, 180), "RGB")
            if track.offer(frame):
                offered_at.append(time.monotonic())
            await asyncio.sleep(0.04)
        await asyncio.sleep(0.5)
    assert 3 <= track.sent <= 6, f"{track.sent} frames sent for 2 s of a near-still face"
    assert track.sent - 1 <= len(got) <= track.sent  # the last may be on its way at close
    assert got[-1][1].width == 320
    assert track.encoder.keyframes >= 1
    spans = [(b.pts - a.pts) / 90000 for (_, a), (_, b) in zip(got, got[1:], strict=False)]
    sends = np.diff(offered_at)
    assert np.allclose(spans, sends[: len(spans)], atol=0.06), (spans, list(sends))


def test_vp8_keyframes_come_on_the_clock_and_on_a_new_size() -> None:
    encoder = Vp8Encoder(keyframe_every_s=2.0)
    still = VideoFrame.from_ndarray(np.full((H, W, 3), 90, np.uint8), format="rgb24")
    for seconds in (0.0, 0.5, 1.0, 1.9):
        encoder.encode(still, int(seconds * 90000))
    assert encoder.keyframes == 1
    packet = encoder.encode(still, int(2.1 * 90000))
    assert encoder.keyframes == 2 and packet.pts == int(2.1 * 90000)
    bigger = VideoFrame.from_ndarray(np.full((2 * H, 2 * W, 3), 90, np.uint8), format="rgb24")
    encoder.encode(bigger, int(2.2 * 90000))
    assert encoder.keyframes == 3


async def test_a_browser_that_prefers_h264_gets_frames_aiortc_encodes() -> None:
    """Safari offers H264 first: the track then hands aiortc YUV frames to encode."""
    track = ChangedFramesTrack()
    async with webrtc_call(track, prefer="H264") as (sender, got):
        assert negotiated_video_codec(sender) == "H264"  # so no encoder is set
        face = Face(320, 180)
        for i in range(30):
            frame = OutputImageRawFrame(face.render(i % 8 / 7, 0.0, 0, 0), (320, 180), "RGB")
            track.offer(frame)
            await asyncio.sleep(0.04)
            if len(got) >= 3:
                break
        for _ in range(100):
            if len(got) >= 3:
                break
            await asyncio.sleep(0.05)
    assert track.encoder is None
    assert len(got) >= 3 and (got[-1][1].width, got[-1][1].height) == (320, 180)
