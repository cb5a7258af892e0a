"""The Tavus avatar: pipecat's TavusVideoService, journaled, watched, and able to give up.

Differences from the stock service, each for a reason:
- the API client honours TAVUS_API_URL per instance and journals every conversation it
  opens, so none is left billing after a crash;
- a failure to start (bad key, no credits, rate limit, outage, network) and a failure
  mid-call (the replica leaves, no video for a while) mark the service unusable with a
  human reason, so the session's failover switches to the local avatar; the conversation
  is ended at that moment rather than when the call ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from loguru import logger
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    StartFrame,
    SystemFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessorSetup
from pipecat.services.ai_service import AIService
from pipecat.services.tavus.video import TavusVideoService
from pipecat.transports.tavus.transport import (
    TavusApi,
    TavusCallbacks,
    TavusParams,
    TavusTransportClient,
)

from localagent.avatar.journal import TavusJournal
from localagent.avatar.spoken_gate import SpokenGate
from localagent.call.spoken_words import SpokenWords

__all__ = ["JournaledTavusApi", "TavusAvatar", "describe_tavus_error"]

_STATUS_REASONS = {
    401: "Tavus rejected the API key (HTTP 401); check TAVUS_API_KEY",
    402: "the Tavus account is out of conversational credits (HTTP 402); add credits",
    403: "the Tavus API key may not use this replica (HTTP 403)",
    404: "Tavus does not know this replica or persona (HTTP 404); check TAVUS_REPLICA_ID",
    429: "Tavus is rate-limiting this account (HTTP 429); wait a minute and call again",
}


def describe_tavus_error(error: BaseException, api_url: str) -> str:
    """One sentence a user can act on."""
    if isinstance(error, aiohttp.ClientResponseError):
        if error.status in _STATUS_REASONS:
            return _STATUS_REASONS[error.status]
        if error.status >= 500:
            return f"Tavus is having trouble (HTTP {error.status}); try again later"
        return f"Tavus refused the request (HTTP {error.status}: {error.message})"
    if isinstance(error, (aiohttp.ClientError, TimeoutError, OSError)):
        return f"cannot reach the Tavus API at {api_url} ({type(error).__name__})"
    return f"Tavus failed: {type(error).__name__}: {error}"


class JournaledTavusApi(TavusApi):
    """pipecat's TavusApi with a per-instance base URL and a journal of open conversations."""

    def __init__(
        self,
        api_key: str,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        journal: TavusJournal,
        timeout_s: float,
    ) -> None:
        super().__init__(api_key, session)
        self.BASE_URL = base_url.rstrip("/")
        self._journal = journal
        self._timeout_s = timeout_s
        self._ended: set[str] = set()
        self.conversation_id: str | None = None
        self.last_error: str | None = None

    async def create_conversation(self, replica_id: str, persona_id: str) -> dict[Any, Any]:
        try:
            response = await asyncio.wait_for(
                super().create_conversation(replica_id, persona_id), timeout=self._timeout_s
            )
        except TimeoutError:
            self.last_error = (
                f"the Tavus API at {self.BASE_URL} did not answer within {self._timeout_s:.0f}s"
            )
            raise
        except Exception as e:
            self.last_error = describe_tavus_error(e, self.BASE_URL)
            raise
        self.conversation_id = response["conversation_id"]
        self._journal.add(response["conversation_id"], self.BASE_URL)
        logger.info(f"Tavus conversation {self.conversation_id} started")
        return response

    async def end_conversation(self, conversation_id: str) -> None:
        if conversation_id is None or conversation_id in self._ended:
            return  # ending is idempotent: failover and teardown may both ask
        await super().end_conversation(conversation_id)
        self._ended.add(conversation_id)
        self._journal.remove(conversation_id)
        logger.info(f"Tavus conversation {conversation_id} ended")


class TavusAvatar(TavusVideoService):
    def __init__(
        self,
        *,
        api_url: str,
        journal: TavusJournal,
        video_timeout_s: float,
        join_timeout_s: float,
        spoken_words: SpokenWords | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._spoken_words = spoken_words
        self._api_url = api_url
        self._join_timeout_s = join_timeout_s
        self._joined = False
        self._join_problem: str | None = None
        self._journal = journal
        self._video_timeout_s = video_timeout_s
        self._api: JournaledTavusApi | None = None
        self._last_video_at = 0.0
        self._watchdog: asyncio.Task[None] | None = None
        self.failure_reason: str | None = None
        self.on_audio_sent: Callable[[int], None] | None = None  # bytes per utterance
        self._utterance_bytes = 0
        self._gate = SpokenGate()

    # pipecat's BaseObject types setup() more loosely than FrameProcessor passes it.
    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        # TavusVideoService.setup, with our API client swapped in before it is used.
        await AIService.setup(self, setup)
        callbacks = TavusCallbacks(
            on_joined=self._on_joined,
            on_participant_joined=self._on_participant_joined,
            on_participant_left=self._on_participant_left,
        )
        self._client = TavusTransportClient(
            bot_name="localagent",
            callbacks=callbacks,
            api_key=self._api_key,
            replica_id=self._replica_id,
            persona_id=self._persona_id,
            session=self._session,
            params=TavusParams(
                audio_in_enabled=True,
                video_in_enabled=True,
                audio_out_faster_than_realtime=True,
                initial_receive_bitrate=self._initial_receive_bitrate,
            ),
        )
        self._api = JournaledTavusApi(
            self._api_key,
            self._session,
            base_url=self._api_url,
            journal=self._journal,
            timeout_s=self._join_timeout_s,
        )
        self._client._api = self._api
        await self._client.setup(setup)
        if self._client._client is None:
            return  # no conversation: start() reports why
        # The pipeline cannot start until this returns, so a Daily room that cannot be
        # reached (it takes daily-python ~20 s to say so) must not hold the call hostage.
        try:
            await asyncio.wait_for(self._client.join(), timeout=self._join_timeout_s)
        except TimeoutError:
            self._join_problem = (
                f"joining the Tavus call room took longer than {self._join_timeout_s:.0f}s"
            )

    async def _on_joined(self, data: Any) -> None:
        self._joined = True
        await super()._on_joined(data)

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        if not self._joined:
            reason = (
                (self._api.last_error if self._api else None)
                or self._join_problem
                or "could not join the Tavus call room (network or Daily error; see the log)"
            )
            await self.give_up(reason)
            return
        self._last_video_at = time.monotonic()
        self._watchdog = self.create_task(self._watch_video(), name="tavus-video-watchdog")

    async def cleanup(self) -> None:
        await self._stop_watchdog()
        await super().cleanup()

    async def _stop_watchdog(self) -> None:
        if self._watchdog is not None and self._watchdog is not asyncio.current_task():
            await self.cancel_task(self._watchdog)
        self._watchdog = None

    async def _watch_video(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self._video_timeout_s / 4))
            silent_for = time.monotonic() - self._last_video_at
            if silent_for >= self._video_timeout_s:
                await self.give_up(f"no video from the Tavus replica for {silent_for:.0f}s")
                return

    async def _on_participant_video_frame(
        self, participant_id: str, video_frame: Any, video_source: str
    ) -> None:
        self._last_video_at = time.monotonic()
        await super()._on_participant_video_frame(participant_id, video_frame, video_source)

    async def _on_participant_left(self, participant: Any, reason: str) -> None:
        await super()._on_participant_left(participant, reason)
        if self.is_usable:
            await self.give_up(f"the Tavus replica left the call ({reason})")

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        # Count what the stock service hands to Tavus: TTS audio, while it is in the room.
        sending = self._client is not None and self._joined and self.failure_reason is None
        if sending and isinstance(frame, TTSAudioRawFrame):
            self._utterance_bytes += len(frame.audio)
            self._gate.sent(frame.audio, frame.sample_rate, frame.num_channels)
        elif isinstance(frame, (TTSStoppedFrame, InterruptionFrame)) and self._utterance_bytes:
            if self.on_audio_sent is not None:
                self.on_audio_sent(self._utterance_bytes)
            self._utterance_bytes = 0
        if direction == FrameDirection.DOWNSTREAM:
            if isinstance(frame, InterruptionFrame):
                for kept in self._gate.interrupt():
                    await self.push_frame(kept)
            elif isinstance(frame, (EndFrame, CancelFrame)):
                for held in self._gate.release_all():
                    await self.push_frame(held)
            elif (
                sending
                and not isinstance(frame, (SystemFrame, TTSAudioRawFrame, TTSStoppedFrame))
                and self._gate.wants(frame)
            ):
                words = (
                    self._spoken_words.pop(frame.context_id, frame.text)
                    if self._spoken_words is not None and isinstance(frame, TTSTextFrame)
                    else None
                )
                self._gate.hold(frame, words)  # passed on once the replica has spoken it
                return
        await super().process_frame(frame, direction)

    async def _on_participant_audio_data(
        self, participant_id: str, audio: Any, source: str
    ) -> None:
        await super()._on_participant_audio_data(participant_id, audio, source)
        for frame in self._gate.received(audio.audio_frames, audio.sample_rate, audio.num_channels):
            await self.push_frame(frame)

    async def give_up(self, reason: str) -> None:
        """Stop using Tavus for this call: end the conversation, report unusable."""
        if self.failure_reason is not None:
            return
        self.failure_reason = reason
        logger.warning(f"Tavus avatar unavailable: {reason}; switching to the local avatar")
        await self._stop_watchdog()
        with contextlib.suppress(Exception):  # leaving the Daily room may fail or hang
            await asyncio.wait_for(self._end_conversation(), timeout=3)
        if self._api is not None and self._api.conversation_id is not None:
            try:
                await self._api.end_conversation(self._api.conversation_id)
            except Exception as e:  # still journaled: ended at the next start
                logger.warning(
                    f"could not end the Tavus conversation now: "
                    f"{describe_tavus_error(e, self._api_url)}"
                )
        for frame in self._gate.abandon():
            await self.push_frame(frame)
        await self.push_error(f"Tavus avatar unavailable: {reason}", force_treat_as_permanent=True)
