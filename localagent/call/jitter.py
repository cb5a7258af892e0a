"""The caller's audio reaches the VAD 60 ms sooner: aiortc's receive buffer, shortened.

aiortc's receiver holds each audio packet until four more have arrived (`JitterBuffer(
capacity=16, prefetch=4)`, fixed in `RTCRtpReceiver`), so every 20 ms Opus packet waits
80 ms before pipecat sees it, and every end of speech is heard 80 ms late. The buffer does
no timed playout (a lost packet stalls it the same with any prefetch), so the prefetch
only buys tolerance of packets that arrive out of order. On loopback and on a LAN that is
rare; one packet of it (20 ms) is kept.
"""

from __future__ import annotations

from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterBuffer
from loguru import logger

__all__ = ["AUDIO_PREFETCH", "shorten_audio_buffers"]

AUDIO_PREFETCH = 1  # packets held before the oldest is released (aiortc's default: 4)
_ATTRIBUTE = "_RTCRtpReceiver__jitter_buffer"  # aiortc 1.x keeps it name-mangled


def shorten_audio_buffers(pc: RTCPeerConnection) -> int:
    """Give each audio receiver of `pc` the shorter buffer, before media flows; returns how
    many were changed (0 if this aiortc keeps its buffer elsewhere: the default stays)."""
    changed = 0
    for transceiver in pc.getTransceivers():
        receiver = transceiver.receiver
        if transceiver.kind != "audio" or not isinstance(
            getattr(receiver, _ATTRIBUTE, None), JitterBuffer
        ):
            continue
        old: JitterBuffer = getattr(receiver, _ATTRIBUTE)
        setattr(receiver, _ATTRIBUTE, JitterBuffer(capacity=old.capacity, prefetch=AUDIO_PREFETCH))
        changed += 1
    if not changed:
        logger.debug("aiortc's audio receive buffer was not found: it keeps its 80 ms")
    return changed
