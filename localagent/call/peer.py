"""Is the browser still there? Watching one call's peer connection.

pipecat notices a peer that never connects only after 60 s (and then its own close races
with the state change it causes, leaving aiortc's close unfinished: `close()` awaits it
forever), and a browser that vanishes mid-call only after aioice's consent checks give up,
about 30 s later. A live browser sends packets all the time (microphone RTP, even when
muted; RTCP reports on our video; STUN consent checks), so silence on the transport is a
faster and surer sign than either; state changes to "failed" or "closed" end it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from aiortc import RTCPeerConnection
from aiortc.stats import RTCTransportStats
from loguru import logger
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection

__all__ = ["close_connection", "packets_received", "watch_peer"]

_GONE = ("failed", "closed")


async def packets_received(pc: RTCPeerConnection) -> int:
    """Datagrams received over the call's transports (RTP, RTCP, DTLS, SCTP)."""
    stats = await pc.getStats()
    return sum(s.packetsReceived for s in stats.values() if isinstance(s, RTCTransportStats))


async def watch_peer(
    pc: RTCPeerConnection,
    *,
    connect_timeout_s: float,
    silence_s: float,
    on_connected: Callable[[], None] | None = None,
    closed_by_us: Callable[[], bool] = lambda: False,
    poll_s: float = 0.25,
) -> str | None:
    """Return once the peer is gone, with the reason: "never connected" or "browser left";
    None when the server closed it (`closed_by_us`), which is no news about the browser."""
    changed = asyncio.Event()
    pc.on("connectionstatechange", changed.set)
    pc.on("iceconnectionstatechange", changed.set)
    loop = asyncio.get_running_loop()

    async def wake_or_sleep(seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), seconds)
        changed.clear()

    deadline = loop.time() + connect_timeout_s
    while pc.connectionState != "connected":
        if pc.connectionState in _GONE or pc.iceConnectionState in _GONE:
            return None if closed_by_us() else "never connected"
        if loop.time() >= deadline:
            return "never connected"
        await wake_or_sleep(min(poll_s, max(deadline - loop.time(), 0.0)))
    if on_connected is not None:
        on_connected()
    last, heard_at = await packets_received(pc), loop.time()
    while True:
        polled_at = loop.time()
        await wake_or_sleep(poll_s)
        if loop.time() - polled_at > 4 * poll_s:
            # This event loop was held up (a slow start-up, a busy machine): the packets
            # that came meanwhile wait unread in the socket, so that silence proves nothing.
            heard_at = loop.time()
        if pc.connectionState in _GONE or pc.iceConnectionState in _GONE:
            return None if closed_by_us() else "browser left"
        if closed_by_us():
            return None
        count = await packets_received(pc)
        if count != last:
            last, heard_at = count, loop.time()
        elif loop.time() - heard_at >= silence_s:
            logger.info(f"nothing heard from the browser for {silence_s:g} s")
            return "browser left"


async def close_connection(connection: SmallWebRTCConnection, timeout_s: float) -> bool:
    """pipecat's disconnect (tells the page the bot left, closes the peer), within
    `timeout_s`; if aiortc's close hangs, its sockets are closed directly and pipecat's
    timers cancelled, so nothing the call held stays open. False when it had to force."""
    try:
        await asyncio.wait_for(connection.disconnect(), timeout_s)
        return True
    except TimeoutError:
        pass
    # No public way to do this: aiortc's close awaits a future only the close it began
    # would resolve. Closing the UDP transports frees the sockets and ends its tasks.
    for transceiver in connection.pc.getTransceivers():
        ice = transceiver.receiver.transport.transport
        for protocol in getattr(getattr(ice, "_connection", None), "_protocols", []):
            if getattr(protocol, "transport", None) is not None:
                protocol.transport.close()
    for cancel in ("_cancel_monitoring_connecting_state", "_cancel_data_channel_timeout"):
        getattr(connection, cancel, lambda: None)()
    return False
