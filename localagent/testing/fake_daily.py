"""A stand-in for daily-python's `CallClient`, playing the Tavus replica, on this machine.

It replaces the two names pipecat's Daily transport imports (`CallClient`, `Daily`), so the
real TavusVideoService, TavusTransportClient and DailyTransportClient run unchanged above it.
It records every app message the bot would send into the room, and plays a replica that
joins, sends video frames, and speaks back the TTS audio it was sent (as Tavus does with
`persona_id="pipecat0"`). Knobs make the replica leave or stop its video. With a portrait
photo (`portrait`, or `LOCALAGENT_FAKE_DAILY_PORTRAIT`) the replica is that face, animated
as the local avatar animates it, so the Tavus path carries a real face's video.

In a test process: `install(FakeRoom())`. For the app as a subprocess, run it through
`python -c` with `install_from_env()` (see `localagent.testing.app_process.run_app`); the
room then logs app messages as JSON lines to `LOCALAGENT_FAKE_DAILY_LOG` and reads knobs from
`LOCALAGENT_FAKE_DAILY_*` variables.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from localagent.avatar.face import Face
from localagent.avatar.local import Drawable
from localagent.avatar.motion import Motion

__all__ = ["FakeRoom", "install", "install_from_env"]

REPLICA_ID = "fake-tavus-replica"


@dataclass
class FakeRoom:
    """What the fake Daily room does and what it saw."""

    video_fps: int = 25
    video_size: tuple[int, int] = (640, 360)
    replica_join_delay_s: float = 0.2
    stop_video_after_s: float | None = None  # the replica freezes
    leave_after_s: float | None = None  # the replica leaves the call
    log_path: Path | None = None
    portrait: Path | None = None  # a photo the replica's face is made of (else drawn)
    app_messages: list[dict[str, Any]] = field(default_factory=list)
    joined_urls: list[str] = field(default_factory=list)

    def record(self, message: dict[str, Any]) -> None:
        self.app_messages.append(message)
        if self.log_path is not None:
            with self.log_path.open("a") as f:
                f.write(json.dumps(message) + "\n")


class _Speaker:
    """Daily's virtual speaker device: nothing plays into it here."""

    def read_frames(self, num_frames: int, completion: Any = None) -> bytes:
        time.sleep(num_frames / 16000)
        if completion is not None:
            completion(b"")
        return b""


class FakeDaily:
    """The module-level `Daily` API pipecat calls."""

    @staticmethod
    def init(*args: Any, **kwargs: Any) -> None:
        pass

    @staticmethod
    def create_speaker_device(*args: Any, **kwargs: Any) -> _Speaker:
        return _Speaker()

    @staticmethod
    def select_speaker_device(*args: Any, **kwargs: Any) -> None:
        pass

    @staticmethod
    def set_log_level(*args: Any, **kwargs: Any) -> None:
        pass


@dataclass
class _VideoFrame:
    buffer: bytes
    width: int
    height: int
    color_format: str = "RGB"


@dataclass
class _AudioData:
    audio_frames: bytes
    sample_rate: int
    num_channels: int = 1
    bits_per_sample: int = 16
    num_audio_frames: int = 0


class FakeCallClient:
    """Implements the CallClient calls DailyTransportClient makes for a Tavus session."""

    room: FakeRoom = FakeRoom()

    def __init__(self, event_handler: Any = None, **kwargs: Any) -> None:
        self._handler = event_handler
        self._stop = threading.Event()
        self._echo = bytearray()  # replica speech waiting to be played, at _echo_rate
        self._echo_rate = 24000
        self._echo_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._joined_at = 0.0

    # -- calls pipecat makes -----------------------------------------------------------------

    def update_subscription_profiles(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_user_name(self, *args: Any, **kwargs: Any) -> None:
        pass

    def update_subscriptions(self, *args: Any, completion: Any = None, **kwargs: Any) -> None:
        if completion is not None:
            completion(None)

    def update_remote_participants(self, *args: Any, completion: Any = None, **kwargs: Any) -> None:
        if completion is not None:
            completion(None)

    def participants(self) -> dict[str, Any]:
        return {"local": {"id": "bot"}, REPLICA_ID: {"id": REPLICA_ID}}

    def join(
        self, url: str, token: Any = None, completion: Any = None, client_settings: Any = None
    ) -> None:
        self.room.joined_urls.append(url)
        self._joined_at = time.monotonic()
        if completion is not None:
            completion(
                {
                    "participants": {"local": {"id": "bot"}},
                    "meetingSession": {"id": "fake-meeting"},
                },
                None,
            )
        self._spawn(self._replica_lifecycle)

    def leave(self, completion: Any = None) -> None:
        self._stop.set()
        if completion is not None:
            completion(None)

    def release(self) -> None:
        self._stop.set()

    def send_app_message(
        self, message: Any, participant_id: Any = None, completion: Any = None
    ) -> None:
        if isinstance(message, dict):
            self.room.record(message)
            props = message.get("properties") or {}
            if message.get("event_type") == "conversation.echo" and props.get("audio"):
                self._queue_echo(base64.b64decode(props["audio"]), int(props["sample_rate"]))
            elif message.get("event_type") == "conversation.interrupt":
                with self._echo_lock:
                    self._echo.clear()
        if completion is not None:
            completion(None)

    def set_video_renderer(
        self,
        participant_id: str,
        callback: Any,
        video_source: str = "camera",
        color_format: str = "RGB",
    ) -> None:
        self._spawn(self._send_video, participant_id, callback, video_source)

    def set_audio_renderer(
        self,
        participant_id: str,
        callback: Any,
        audio_source: str = "microphone",
        sample_rate: int = 16000,
        callback_interval_ms: int = 20,
    ) -> None:
        self._spawn(
            self._send_audio,
            participant_id,
            callback,
            audio_source,
            sample_rate,
            callback_interval_ms,
        )

    # -- the replica -------------------------------------------------------------------------

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _replica_lifecycle(self) -> None:
        if self._stop.wait(self.room.replica_join_delay_s):
            return
        self._handler.on_participant_joined({"id": REPLICA_ID, "info": {"userName": "replica"}})
        if self.room.leave_after_s is not None and not self._stop.wait(self.room.leave_after_s):
            self._handler.on_participant_left({"id": REPLICA_ID}, "leftCall")
            self._stop.set()

    def _queue_echo(self, pcm: bytes, rate: int) -> None:
        with self._echo_lock:
            self._echo_rate = rate
            self._echo += pcm

    def _send_video(self, participant_id: str, callback: Any, source: str) -> None:
        width, height = self.room.video_size
        face: Drawable = Face(width, height)
        if self.room.portrait is not None:
            from localagent.avatar.landmarks import load_portrait
            from localagent.avatar.portrait import Portrait

            face = Portrait(*load_portrait(self.room.portrait), width, height)
        fps = self.room.video_fps
        motion = Motion(fps, face.face_width)
        while not self._stop.wait(1.0 / fps):
            stop_after = self.room.stop_video_after_s
            if stop_after is not None and time.monotonic() - self._joined_at > stop_after:
                continue  # frozen replica: the call stays up, frames stop
            with self._echo_lock:  # the replica's mouth follows what it is about to say
                rate = self._echo_rate
                ahead = bytes(self._echo[: int(rate / fps) * 2])
            frame = face.draw(motion.step(ahead, rate, listening=False))
            callback(participant_id, _VideoFrame(frame, width, height), source)

    def _send_audio(
        self, participant_id: str, callback: Any, source: str, rate: int, interval_ms: int
    ) -> None:
        period = interval_ms / 1000.0
        while not self._stop.wait(period):
            with self._echo_lock:
                want = int(self._echo_rate * period) * 2
                chunk = bytes(self._echo[:want])
                del self._echo[:want]
                src_rate = self._echo_rate
            samples = np.frombuffer(chunk, dtype=np.int16) if chunk else np.zeros(0, np.int16)
            if src_rate != rate and len(samples):
                samples = soxr.resample(samples, src_rate, rate)
            out = np.zeros(int(rate * period), dtype=np.int16)
            out[: len(samples)] = samples[: len(out)]
            callback(
                participant_id,
                _AudioData(out.tobytes(), rate, 1, num_audio_frames=len(out)),
                source,
            )


def install(room: FakeRoom) -> FakeRoom:
    """Swap daily-python for the fake in pipecat's Daily transport module."""
    import pipecat.transports.daily.transport as daily_transport

    FakeCallClient.room = room
    daily_transport.CallClient = FakeCallClient  # type: ignore[misc,assignment]
    daily_transport.Daily = FakeDaily  # type: ignore[misc,assignment]
    return room


def install_from_env() -> FakeRoom:
    def seconds(name: str) -> float | None:
        value = os.environ.get(f"LOCALAGENT_FAKE_DAILY_{name}")
        return float(value) if value else None

    log = os.environ.get("LOCALAGENT_FAKE_DAILY_LOG")
    return install(
        FakeRoom(
            stop_video_after_s=seconds("STOP_VIDEO_AFTER"),
            leave_after_s=seconds("LEAVE_AFTER"),
            log_path=Path(log) if log else None,
            portrait=Path(face)
            if (face := os.environ.get("LOCALAGENT_FAKE_DAILY_PORTRAIT"))
            else None,
        )
    )
