"""A WebRTC caller over aiortc: speaks PCM into a localagent call and records what comes back.

It signals exactly as a browser running pipecat's JS client does (`POST /api/offer`), sends
a microphone track paced in real time, and receives the bot's audio and video tracks.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import aiohttp
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

__all__ = ["Caller", "ReceivedAudio"]

RATE = 48000
PTIME = 0.02
SAMPLES = int(RATE * PTIME)


class _MicrophoneTrack(MediaStreamTrack):
    """Real-time paced mono s16 audio: queued speech, silence otherwise."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pending = np.zeros(0, dtype=np.int16)
        self._start: float | None = None
        self._pts = 0
        self.speech_ended_at: float | None = None
        self._speaking = False

    def say(self, pcm48k: np.ndarray) -> None:
        self._pending = np.concatenate([self._pending, pcm48k.astype(np.int16)])
        self._speaking = True
        self.speech_ended_at = None

    @property
    def speaking(self) -> bool:
        return self._speaking

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._pts / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        chunk = self._pending[:SAMPLES]
        self._pending = self._pending[SAMPLES:]
        if self._speaking and len(self._pending) == 0:
            # The last voiced sample leaves with this frame.
            self._speaking = False
            self.speech_ended_at = time.monotonic() + len(chunk) / RATE
        if len(chunk) < SAMPLES:
            chunk = np.concatenate([chunk, np.zeros(SAMPLES - len(chunk), dtype=np.int16)])
        frame = AudioFrame(format="s16", layout="mono", samples=SAMPLES)
        frame.planes[0].update(chunk.tobytes())
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += SAMPLES
        return frame


@dataclass
class ReceivedAudio:
    at: float  # time.monotonic() when it arrived
    rms: float  # 0..1


@dataclass
class Caller:
    base_url: str
    audio: list[ReceivedAudio] = field(default_factory=list)
    video_times: list[float] = field(default_factory=list)  # time.monotonic() of each frame
    last_video_frame: VideoFrame | None = None
    video_size: tuple[int, int] | None = None
    pc_id: str | None = None
    answer: dict[str, Any] | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)  # RTVI messages from the bot
    tab: str | None = None  # like the page's tab id: a new call from the same tab replaces one

    def __post_init__(self) -> None:
        # The URL localagent prints carries `?token=` when the server asks for one.
        url = urlsplit(self.base_url)
        self._token = parse_qs(url.query).get("token", [""])[0]
        self.base_url = urlunsplit((url.scheme, url.netloc, url.path, "", "")).rstrip("/")
        self._pc: RTCPeerConnection | None = None
        self._mic = _MicrophoneTrack()
        self._readers: list[asyncio.Task[None]] = []

    # -- call setup --------------------------------------------------------------------------

    async def connect(self) -> None:
        self._pc = RTCPeerConnection()
        self._pc.addTrack(self._mic)
        self._pc.addTransceiver("video", direction="recvonly")
        # Like pipecat's JS client: a data channel carries RTVI messages both ways.
        channel = self._pc.createDataChannel("chat", ordered=True)

        @channel.on("message")
        def on_message(message: str | bytes) -> None:
            with contextlib.suppress(ValueError):
                self.messages.append(json.loads(message))

        @self._pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            reader = self._read_audio(track) if track.kind == "audio" else self._read_video(track)
            self._readers.append(asyncio.ensure_future(reader))

        offer = await self._pc.createOffer()
        await self._pc.setLocalDescription(offer)
        local = self._pc.localDescription
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{self.base_url}/api/offer",
                json={
                    "sdp": local.sdp,
                    "type": local.type,
                    **({"requestData": {"tab": self.tab}} if self.tab else {}),
                },
                headers={"Authorization": f"Bearer {self._token}"} if self._token else {},
            ) as resp,
        ):
            if resp.status != 200:
                raise RuntimeError(f"offer refused: HTTP {resp.status}: {await resp.text()}")
            self.answer = await resp.json()
        assert self.answer is not None
        self.pc_id = self.answer["pc_id"]
        await self._pc.setRemoteDescription(
            RTCSessionDescription(sdp=self.answer["sdp"], type=self.answer["type"])
        )

    @property
    def connection_state(self) -> str:
        """aiortc's view of the call: 'closed' or 'failed' once the server has hung up."""
        return self._pc.connectionState if self._pc is not None else "new"

    async def close(self) -> None:
        self._mic.stop()
        if self._pc is not None:
            await self._pc.close()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)

    async def __aenter__(self) -> Caller:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- speaking ----------------------------------------------------------------------------

    async def say(self, pcm48k: np.ndarray) -> float:
        """Speak mono 48 kHz int16 PCM; return the monotonic time its last sample left.

        Raises if the call ends first (aiortc stops pulling the microphone then), rather
        than wait for audio that will never leave.
        """
        self._mic.say(pcm48k)
        deadline = time.monotonic() + len(pcm48k) / RATE + 10.0
        while self._mic.speaking or self._mic.speech_ended_at is None:
            if self.connection_state in ("closed", "failed") or time.monotonic() > deadline:
                raise RuntimeError(f"the call ended while speaking ({self.connection_state})")
            await asyncio.sleep(0.01)
        ended = self._mic.speech_ended_at
        await asyncio.sleep(max(0.0, ended - time.monotonic()))
        return ended

    # -- listening ---------------------------------------------------------------------------

    def voiced_since(self, t: float, threshold: float = 0.01) -> list[ReceivedAudio]:
        return [a for a in self.audio if a.at >= t and a.rms >= threshold]

    async def wait_for_voice(self, since: float, timeout: float, threshold: float = 0.01) -> float:
        """Monotonic time of the first voiced bot audio after `since`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            voiced = self.voiced_since(since, threshold)
            if voiced:
                return voiced[0].at
            await asyncio.sleep(0.01)
        raise TimeoutError(f"no bot speech within {timeout:.0f}s")

    async def wait_for_silence(
        self, quiet_s: float, timeout: float, threshold: float = 0.01
    ) -> None:
        """Wait until the bot has been quiet for `quiet_s` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = time.monotonic()
            if (
                self.audio
                and not self.voiced_since(now - quiet_s, threshold)
                and (self.audio[-1].at > now - 0.5)
            ):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"bot did not fall silent within {timeout:.0f}s")

    async def _read_audio(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, AudioFrame)
            samples = frame.to_ndarray().astype(np.float32) / 32768.0
            item = ReceivedAudio(time.monotonic(), float(np.sqrt(np.mean(samples**2))))
            self.audio.append(item)

    async def _read_video(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.video_times.append(time.monotonic())
            assert isinstance(frame, VideoFrame)
            self.video_size = (frame.width, frame.height)
            # Converted to RGB only when asked: the bench times this caller on the server's
            # own CPUs, where a browser would only decode.
            self.last_video_frame = frame

    @property
    def video_frames(self) -> int:
        return len(self.video_times)

    @property
    def last_video(self) -> np.ndarray | None:
        """The last picture received, as RGB."""
        frame = self.last_video_frame
        return None if frame is None else frame.to_ndarray(format="rgb24")


async def vanished_offer() -> str:
    """The SDP offer of a browser that is gone before it connects: its peer connection is
    closed before the offer is even sent."""
    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="sendrecv")
    pc.addTransceiver("video", direction="recvonly")
    pc.createDataChannel("chat", ordered=True)
    await pc.setLocalDescription(await pc.createOffer())
    sdp = str(pc.localDescription.sdp)
    await pc.close()
    return sdp


async def post_offer(url: str, http: aiohttp.ClientSession, sdp: str) -> tuple[int, str]:
    """POST an offer as the page does; the answer's status and body."""
    async with http.post(f"{url.rstrip('/')}/api/offer", json={"sdp": sdp, "type": "offer"}) as r:
        return r.status, await r.text()


async def offer_and_vanish(url: str, http: aiohttp.ClientSession) -> tuple[int, str]:
    return await post_offer(url, http, await vanished_offer())


async def _call_until_killed(url: str) -> None:
    """`python -m localagent.testing.caller URL`: call, and print HEARD once the bot speaks;
    then stay on the call until killed (a browser whose process dies mid-answer)."""
    async with Caller(url) as caller:
        await caller.wait_for_voice(since=0.0, timeout=120)
        print("HEARD", flush=True)
        await asyncio.sleep(3600)


if __name__ == "__main__":
    import sys

    asyncio.run(_call_until_killed(sys.argv[1]))
