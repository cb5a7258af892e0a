"""One call, from the offer that asks for it to the moment everything it held is given back.

A `Call` is created (and counted against the limit) when its offer arrives, before aiortc
has even read the SDP; it builds its pipeline once pipecat has a peer connection for it,
watches that peer, and ends exactly once with a reason:

    "flow ended"        the flow's end_conversation (the pipeline finished by itself)
    "browser left"      the peer closed, failed or went silent
    "never connected"   no connection within the connect timeout
    "server stopped"    shutdown (Ctrl-C, q in the TUI)
    "replaced by ..."   a reloaded page called again, "hung up" from the TUI
    "error: ..."        the pipeline raised

Every await in its teardown has a timeout, so a stuck library cannot keep the slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal

import aiohttp
from loguru import logger
from pipecat.flows import NodeConfig
from pipecat.frames.frames import ErrorFrame, Frame, TTSSpeakFrame
from pipecat.processors.frameworks.rtvi.frames import RTVIServerMessageFrame
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.workers.runner import WorkerRunner

from localagent.call.empty_replies import EmptyReplyObserver
from localagent.call.jitter import shorten_audio_buffers
from localagent.call.peer import close_connection, watch_peer
from localagent.call.pipeline import CallPipeline, build_pipeline
from localagent.call.turns import TurnCounts
from localagent.events import (
    LATENCY_FIGURES,
    AvatarChanged,
    Event,
    NodeEntered,
    ServiceFault,
    SessionEnded,
    SessionStarted,
    TavusAudioSent,
    Turn,
    TurnLatency,
)
from localagent.ollama_status import probe_llm
from localagent.runtime import Runtime

__all__ = ["APOLOGIES", "Call", "CallState"]

CallState = Literal["connecting", "live", "ending", "ended"]

# What the avatar says when a service fails mid-call (the TTS cannot apologise for itself).
APOLOGIES = {
    "LLM": "Sorry, my language model stopped answering. Could you say that again?",
    "STT": "Sorry, I couldn't make that out. Could you say it again?",
    "tools": "Sorry, I couldn't complete that step. Could you tell me again what you need?",
}
_STOP_S = 5.0  # the pipeline's cancel, then the runner, may each take this long
_CLOSE_S = 3.0  # aiortc's close
TEARDOWN_S = _STOP_S * 2 + 1.0 + _CLOSE_S + 1.0  # the longest a call takes to end


class Call:
    def __init__(
        self,
        runtime: Runtime,
        *,
        tab: str | None = None,
        on_end: Callable[[Call], None] | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.runtime = runtime  # the flow is the one loaded when the call was placed
        self.tab = tab  # the page (browser tab) that placed it, if it said
        self.state: CallState = "connecting"
        self.end_reason: str | None = None
        self.created_at = time.time()
        self.pc_id: str | None = None
        self._on_end = on_end
        self._parts: CallPipeline | None = None
        self._turn_counts: TurnCounts | None = None  # kept after the call: they are small
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._closed_by_us = False
        self._ended = asyncio.Event()

    @property
    def ending(self) -> bool:
        return self.state in ("ending", "ended")

    @property
    def avatar(self) -> dict[str, str]:
        stage = self._parts.avatar if self._parts else None
        return {"live": stage.live, "reason": stage.reason} if stage else {}

    def snapshot(self) -> dict[str, Any]:
        """What the status endpoint and the TUI show of the call."""
        manager = self._parts.flow_manager if self._parts else None
        return {
            "id": self.id,
            "state": self.state,
            "ending": self.ending,
            "flow": self.runtime.flow.name,
            "node": manager.current_node if manager else None,
            "avatar": self.avatar,
            "end_reason": self.end_reason,
            "started_at": self.created_at,
            # Speculative answers started, confirmed and withdrawn (each withdrawn one cost
            # the LLM time), and what the caller's voice over the bot turned out to be.
            "turns": self._turn_counts.snapshot() if self._turn_counts else None,
        }

    # -- life ------------------------------------------------------------------------------

    async def start(self, connection: SmallWebRTCConnection) -> None:
        """Run the call over `connection` (pipecat's callback for a new peer)."""
        self.pc_id = connection.pc_id
        shorten_audio_buffers(connection.pc)
        # pipecat's transport closes the peer itself when the pipeline ends (the flow's
        # end_conversation); that close must not read as the browser leaving.
        disconnect = connection.disconnect

        async def disconnect_ours() -> None:
            self._closed_by_us = True
            await disconnect()

        connection.disconnect = disconnect_ours  # type: ignore[method-assign]
        self._task = asyncio.create_task(self._run(connection), name=f"call-{self.id}")

    def abandon(self, reason: str) -> None:
        """The offer failed before a connection existed: end without running."""
        if self._task is None and not self._ended.is_set():
            self._finish(reason)

    async def hang_up(self, reason: str, *, wait: bool = True) -> None:
        """End the call (once; later reasons are ignored); with `wait`, until it has ended.

        Its slot is free as soon as this returns, waiting or not: an ending call does not
        count against the limit, and its teardown is bounded."""
        if self.state in ("connecting", "live"):
            self._set_reason(reason)
            self._stop.set()
        if self._task is None:
            self.abandon(reason)
        if wait:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ended.wait(), TEARDOWN_S)

    async def restart_flow(self) -> bool:
        """Back to the flow's first node with empty state; False if the call has no flow yet."""
        if self._parts is None or self.ending:
            return False
        manager = self._parts.flow_manager
        manager.state.clear()
        await manager.set_node_from_config(self.runtime.flow.flow.initial_node)
        logger.info(f"session {self.id}: flow restarted")
        return True

    def mute_bot(self, muted: bool) -> bool:
        """Silence (or give back) the bot's voice; False if the call has no pipeline yet."""
        if self._parts is None or self.ending:
            return False
        self._parts.bot_mute.muted = muted
        logger.info(f"session {self.id}: bot {'muted' if muted else 'unmuted'}")
        return True

    @property
    def bot_muted(self) -> bool:
        return self._parts is not None and self._parts.bot_mute.muted

    async def _run(self, connection: SmallWebRTCConnection) -> None:
        settings, bus = self.runtime.settings, self.runtime.bus
        runner_task: asyncio.Task[None] | None = None
        unsubscribe: Callable[[], None] = lambda: None  # noqa: E731
        try:
            async with aiohttp.ClientSession() as http:
                parts = self._parts = build_pipeline(connection, self.runtime, self.id, http)
                self._turn_counts = parts.turn_counts
                self._wire(parts)
                unsubscribe = bus.subscribe(self._page_messages(parts))
                bus.publish(
                    SessionStarted(self.id, flow=self.runtime.flow.name, avatar=parts.avatar.live)
                )
                runner = WorkerRunner(handle_sigint=False)
                await runner.add_workers(parts.worker)
                runner_task = asyncio.create_task(runner.run(), name=f"call-{self.id}-runner")
                watcher = asyncio.create_task(
                    watch_peer(
                        connection.pc,
                        connect_timeout_s=settings.connect_timeout,
                        silence_s=settings.peer_silence_timeout,
                        on_connected=self._connected,
                        closed_by_us=lambda: self._closed_by_us,
                    ),
                    name=f"call-{self.id}-peer",
                )
                stop = asyncio.create_task(self._stop.wait())
                await self._until_over(runner_task, watcher, stop)
                for task in (watcher, stop):
                    task.cancel()
                await self._stop_pipeline(parts, runner_task)
        except asyncio.CancelledError:
            self._set_reason("server stopped")
            raise
        except Exception as e:
            self._set_reason(f"error: {type(e).__name__}: {e}")
            logger.opt(exception=e).error(f"session {self.id} failed")
        finally:
            unsubscribe()
            if runner_task is not None and not runner_task.done():
                runner_task.cancel()
            state = dict(self._parts.flow_manager.state) if self._parts else {}
            if self._parts is not None:
                logger.info(f"session {self.id} turn-taking: {self._parts.turn_counts.snapshot()}")
            bus.publish(SessionEnded(self.id, reason=self.end_reason or "?", final_state=state))
            await self._close(connection)
            self._finish(self.end_reason or "?")

    async def _until_over(
        self,
        runner_task: asyncio.Task[None],
        watcher: asyncio.Task[str | None],
        stop: asyncio.Task[bool],
    ) -> None:
        """Wait for whichever ends the call first: the pipeline, the peer, or a hang-up."""
        pending: set[asyncio.Task[Any]] = {runner_task, watcher, stop}
        timeout: float | None = None
        while True:
            done, _ = await asyncio.wait(
                pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if stop in done or self.ending:
                return
            if watcher in done:
                reason = watcher.result()
                if reason is not None:
                    self._set_reason(reason)
                    return
                # The pipeline closed the peer itself (end_conversation): it is finishing.
                pending.discard(watcher)
                timeout = _STOP_S
                continue
            if runner_task not in done:  # the pipeline closed the peer but never finished
                self._set_reason("flow ended")
                return
            error = runner_task.exception()
            self._set_reason(f"error: {type(error).__name__}: {error}" if error else "flow ended")
            return

    def _set_reason(self, reason: str) -> None:
        if self.end_reason is None:
            logger.info(f"session {self.id}: {reason}")
            self.end_reason = reason
        self.state = "ending"

    def _connected(self) -> None:
        if self.state == "connecting":
            self.state = "live"

    async def _stop_pipeline(self, parts: CallPipeline, runner_task: asyncio.Task[None]) -> None:
        if runner_task.done():
            return
        with contextlib.suppress(Exception):  # TimeoutError included
            await asyncio.wait_for(parts.worker.cancel(), _STOP_S)
        await asyncio.wait({runner_task}, timeout=_STOP_S)
        if not runner_task.done():
            logger.warning(f"session {self.id}: the pipeline did not stop in {_STOP_S:g} s")
            runner_task.cancel()
            await asyncio.wait({runner_task}, timeout=1.0)

    async def _close(self, connection: SmallWebRTCConnection) -> None:
        if not await close_connection(connection, _CLOSE_S):
            logger.warning(
                f"session {self.id}: aiortc did not close in {_CLOSE_S:g} s; sockets forced"
            )

    # -- wiring ----------------------------------------------------------------------------

    def _wire(self, parts: CallPipeline) -> None:
        """Event handlers: turns onto the bus, greeting, avatar failover, service faults."""
        settings, bus, flow = self.runtime.settings, self.runtime.bus, self.runtime.flow
        worker, avatar = parts.worker, parts.avatar

        def avatar_message() -> RTVIServerMessageFrame:
            return RTVIServerMessageFrame(data={"type": "avatar", **self.avatar})

        if avatar.tavus is not None:
            avatar.tavus.on_audio_sent = lambda n: bus.publish(TavusAudioSent(self.id, nbytes=n))

        if avatar.switcher is not None:

            @avatar.switcher.strategy.event_handler("on_service_switched")
            async def on_avatar_switched(_strategy: object, _service: object) -> None:
                avatar.local.active = avatar.live == "local"
                logger.warning(
                    f"session {self.id}: now on the {avatar.live} avatar ({avatar.reason})"
                )
                bus.publish(AvatarChanged(self.id, live=avatar.live, reason=avatar.reason))
                await worker.queue_frames([avatar_message()])

        notices: set[str] = set()  # Ollama notices this call has spoken

        @parts.transport.event_handler("on_client_connected")
        async def on_connected(_transport: object, _client: object) -> None:
            parts.video_out.attach()
            logger.info(f"session {self.id}: browser connected ({avatar.live} avatar)")
            await worker.queue_frames([avatar_message()])
            status = await probe_llm(settings, needs=self.runtime.needs)
            self.runtime.probed(status.capabilities)
            initial = flow.flow.initial_node
            if not status.ok:
                logger.warning(f"session {self.id}: {status.problem} fix: {status.fix}")
                notices.add(status.spoken)
                await worker.queue_frames([TTSSpeakFrame(status.spoken)])
                # Enter the flow without asking the LLM for a greeting, so the caller's
                # next turn reaches the flow as soon as Ollama is back.
                initial = NodeConfig(**{**initial, "respond_immediately": False})
            await parts.flow_manager.initialize(initial)

        @parts.transport.event_handler("on_client_disconnected")
        async def on_disconnected(_transport: object, _client: object) -> None:
            self._set_reason("browser left")
            self._stop.set()

        async def report_fault(service: str, error: str) -> None:
            logger.warning(f"session {self.id}: {service} failed: {error}")
            apology = APOLOGIES.get(service, "")
            if service == "LLM":
                status = await probe_llm(settings, needs=self.runtime.needs)
                if not status.ok:  # the full notice once a call, then the short one
                    again = status.spoken in notices
                    apology = status.spoken_again if again else status.spoken
                    notices.add(status.spoken)
            bus.publish(ServiceFault(self.id, service=service, error=error, apology=apology))
            fault = {"type": "fault", "service": service, "error": error}
            frames: list[Frame] = [RTVIServerMessageFrame(data=fault)]
            await worker.queue_frames([*frames, TTSSpeakFrame(apology)] if apology else frames)

        async def on_tool_loop(description: str) -> None:
            await report_fault("tools", description)

        parts.tool_guard.on_loop = on_tool_loop

        async def on_withheld(text: str) -> None:
            await report_fault(
                "tools",
                "the model wrote a tool call as text that matches no function offered here "
                f"(withheld, not spoken): {text}",
            )

        parts.llm.on_withheld = on_withheld

        @worker.event_handler("on_pipeline_error")
        async def on_error(_worker: object, frame: ErrorFrame) -> None:
            service = parts.services.get(id(frame.processor), str(frame.processor))
            await report_fault(service, frame.error)

        async def on_empty_reply() -> None:
            if parts.llm.habits.last_withheld:
                return  # a tool call written as text matched nothing: told as a tool fault
            await report_fault(
                "LLM",
                "the answer had no text and no tool call (not an event stream, empty, or "
                "not from Ollama: a proxy's page?)",
            )

        worker.add_observer(EmptyReplyObserver(parts.llm, on_empty_reply))

        @parts.aggregators.user().event_handler("on_user_turn_stopped")
        async def on_user_turn(_aggregator: object, _strategy: object, message: Any) -> None:
            if message.content:
                parts.tool_guard.user_turn()
                goes_on = parts.rejoin.goes_on(message.content)
                bus.publish(Turn(self.id, role="user", text=message.content, continues=goes_on))

        @parts.aggregators.assistant().event_handler("on_assistant_turn_stopped")
        async def on_bot_turn(_aggregator: object, message: Any) -> None:
            if message.content:
                interrupted = bool(message.interrupted)
                bus.publish(
                    Turn(self.id, role="assistant", text=message.content, interrupted=interrupted)
                )

    def _page_messages(self, parts: CallPipeline) -> Callable[[Event], None]:
        """The one bus subscriber that tells this call's page its flow node and latency."""
        loop = asyncio.get_running_loop()
        pending: set[asyncio.Task[None]] = set()  # held until done, as asyncio asks

        def send(frame: RTVIServerMessageFrame) -> None:
            task = loop.create_task(parts.worker.queue_frames([frame]))
            pending.add(task)
            task.add_done_callback(pending.discard)

        def forward(event: Event) -> None:
            data: dict[str, Any]
            if event.session_id != self.id:
                return
            if isinstance(event, NodeEntered):
                data = {"type": "flow", "node": event.node, "functions": list(event.functions)}
            elif isinstance(event, TurnLatency) and not event.first_turn:
                figures = {k: round(getattr(event, k), 3) for k in LATENCY_FIGURES}
                data = {"type": "latency", **figures}
            else:
                return
            # The bus may publish from another thread (the egress hook's).
            loop.call_soon_threadsafe(send, RTVIServerMessageFrame(data=data))

        return forward

    def _finish(self, reason: str) -> None:
        self.end_reason = self.end_reason or reason
        self.state = "ended"
        self._parts = None  # the pipeline's web of processors: let the collector have it
        self._ended.set()
        logger.info(f"session {self.id}: ended ({self.end_reason})")
        if self._on_end is not None:
            self._on_end(self)
