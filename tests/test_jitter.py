"""aiortc's audio receive buffer, shortened: a packet reaches pipecat when the next arrives."""

from __future__ import annotations

from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from localagent.call.jitter import AUDIO_PREFETCH, shorten_audio_buffers


def _buffer(pc: RTCPeerConnection, kind: str) -> JitterBuffer:
    receiver = next(t.receiver for t in pc.getTransceivers() if t.kind == kind)
    buffer = receiver._RTCRtpReceiver__jitter_buffer  # type: ignore[attr-defined]
    assert isinstance(buffer, JitterBuffer)
    return buffer


def _released_after(buffer: JitterBuffer) -> int:
    """How many packets after the first had to arrive before the first came out."""
    for seq in range(16):
        packet = RtpPacket(payload_type=111, sequence_number=seq, timestamp=seq * 960)
        packet._data = b"\x00"  # type: ignore[attr-defined]
        _, frame = buffer.add(packet)
        if frame is not None:
            assert frame.timestamp == 0
            return seq
    raise AssertionError("the first packet never came out")


async def test_audio_receivers_get_the_short_buffer_and_video_keeps_its_own() -> None:
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("audio")
        pc.addTransceiver("video")
        video = _buffer(pc, "video")
        assert _released_after(_buffer(pc, "audio")) == 4  # aiortc's own: 80 ms of Opus
        assert shorten_audio_buffers(pc) == 1
        assert _released_after(_buffer(pc, "audio")) == AUDIO_PREFETCH == 1  # 20 ms
        assert _buffer(pc, "video") is video
    finally:
        await pc.close()
