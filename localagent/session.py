"""One call: the pipeline for one connected browser, from its microphone to the avatar.

This module is the composition root: the only place that knows the order of the stages.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from loguru import logger
from pipecat.flows import FlowManager, NodeConfig
from pipecat.frames.frames import ErrorFrame, Frame, TTSSpeakFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frameworks.rtvi import RTVIObserverParams
from pipecat.processors.frameworks.rtvi.frames import RTVIServerMessageFrame
from pipecat.transports.base_transport import TransportParams
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport
from pipecat.workers.runner import WorkerRunner

from localagent.avatar import AvatarStage, create_avatar_stage
from localagent.events import (
    AvatarChanged,
    Event,
    EventBus,
    NodeEntered,
    ServiceFault,
    SessionEnded,
    SessionStarted,
    TavusAudioSent,
    Turn,
    TurnLatency,
)
from localagent.flow_manager import ObservedFlowManager
from localagent.flows import LoadedFlow
from localagent.latency import create_latency_observer
from localagent.ollama_status import probe_ollama
from localagent.runtime import Runtime
from localagent.services import create_llm, create_stt, create_tts, create_vad
from localagent.turns import turn_strategies
from localagent.video_out import AvatarVideoOut

__all__ = ["AUDIO_IN_RATE", "AUDIO_OUT_RATE", "SessionInfo", "run_session"]

AUDIO_IN_RATE = 16000  # what whisper and Silero want
AUDIO_OUT_RATE = 24000
# The RTVI messages the page uses (captions, speaking state); not the per-token LLM and TTS
# text, the LLM's input or per-stage metrics, which cost the data channel a message each
# and which the page gets digested (latency, flow state) from localagent's own messages.
PAGE_RTVI_MESSAGES = RTVIObserverParams(
    bot_llm_enabled=False, bot_tts_enabled=False, user_llm_enabled=False, metrics_enabled=False
)

# What the avatar says when a service fails mid-call (the TTS cannot apologise for itself).
APOLOGIES = {
    "LLM": "Sorry, my language model stopped answering. Could you say that again?",
    "STT": "Sorry, I couldn't make that out. Could you say it again?",
}


@dataclass
class SessionInfo:
    """What the server knows about a live session."""

    pc_id: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    avatar_stage: AvatarStage | None = None
    ending: bool = False  # the browser left; the pipeline is being torn down
    tab: str | None = None  # the page (browser tab) that placed the call, if it said
    hang_up: Callable[[str], Awaitable[None]] | None = None  # set once the pipeline runs
    flow: LoadedFlow | None = None
    flow_manager: FlowManager | None = None

    @property
    def avatar(self) -> dict[str, str]:
        stage = self.avatar_stage
        return {"live": stage.live, "reason": stage.reason} if stage else {}

    def avatar_message(self) -> RTVIServerMessageFrame:
        return RTVIServerMessageFrame(data={"type": "avatar", **self.avatar})


async def run_session(
    connection: SmallWebRTCConnection, runtime: Runtime, info: SessionInfo
) -> None:
    """Run the call until the browser leaves or the flow ends it."""
    settings, engines, flow, bus = runtime.settings, runtime.engines, runtime.flow, runtime.bus
    transport = SmallWebRTCTransport(
        webrtc_connection=connection,
        params=TransportParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            video_out_enabled=True,
            video_out_is_live=True,
            video_out_width=settings.avatar_width,
            video_out_height=settings.avatar_height,
            video_out_framerate=settings.avatar_fps,
        ),
    )
    async with aiohttp.ClientSession() as http:
        avatar = info.avatar_stage = create_avatar_stage(settings, http, runtime.journal)
        if avatar.tavus is not None:
            avatar.tavus.on_audio_sent = lambda n: bus.publish(TavusAudioSent(info.id, nbytes=n))
        llm, stt, tts = create_llm(settings), create_stt(engines), create_tts(engines)
        video_out = AvatarVideoOut(connection)
        context = LLMContext()
        aggregators = LLMContextAggregatorPair(
            context,
            user_params=LLMUserAggregatorParams(
                vad_analyzer=create_vad(engines),
                user_turn_strategies=turn_strategies(settings, engines.turn_stop),
            ),
        )
        pipeline = Pipeline(
            [
                transport.input(),
                stt,
                aggregators.user(),
                llm,
                tts,
                avatar.processor,
                video_out,
                transport.output(),
                aggregators.assistant(),
            ]
        )
        worker = PipelineWorker(
            pipeline,
            params=PipelineParams(
                audio_in_sample_rate=AUDIO_IN_RATE,
                audio_out_sample_rate=AUDIO_OUT_RATE,
                enable_metrics=True,
            ),
            idle_timeout_secs=None,
            observers=[create_latency_observer(bus, info.id)],
            rtvi_observer_params=PAGE_RTVI_MESSAGES,
        )
        flow_manager = ObservedFlowManager(
            bus=bus,
            session_id=info.id,
            llm=llm,
            context_aggregator=aggregators,
            worker=worker,
            transport=transport,
            global_functions=flow.flow.global_functions,
        )
        info.flow, info.flow_manager = flow, flow_manager
        _publish_turns(aggregators, bus, info.id)
        unsubscribe = bus.subscribe(_page_messages(info.id, worker))
        end_reason = "flow ended"  # unless the browser leaves or the server stops first

        if avatar.switcher is not None:

            @avatar.switcher.strategy.event_handler("on_service_switched")
            async def on_avatar_switched(_strategy: object, _service: object) -> None:
                avatar.local.active = avatar.live == "local"
                logger.warning(
                    f"session {info.id}: now on the {avatar.live} avatar ({avatar.reason})"
                )
                bus.publish(AvatarChanged(info.id, live=avatar.live, reason=avatar.reason))
                await worker.queue_frames([info.avatar_message()])

        @transport.event_handler("on_client_connected")
        async def on_connected(_transport: object, _client: object) -> None:
            video_out.attach()
            logger.info(f"session {info.id}: browser connected ({avatar.live} avatar)")
            await worker.queue_frames([info.avatar_message()])
            status = await probe_ollama(settings.ollama_host, settings.llm_model)
            initial = flow.flow.initial_node
            if not status.ok:
                logger.warning(f"session {info.id}: {status.problem} fix: {status.fix}")
                await worker.queue_frames([TTSSpeakFrame(status.spoken)])
                # Enter the flow without asking the LLM for a greeting, so the caller's
                # next turn reaches the flow as soon as Ollama is back.
                initial = NodeConfig(**{**initial, "respond_immediately": False})
            await flow_manager.initialize(initial)

        async def hang_up(reason: str) -> None:
            nonlocal end_reason
            if info.ending:
                return
            logger.info(f"session {info.id}: {reason}")
            end_reason = reason
            info.ending = True
            await worker.cancel()

        info.hang_up = hang_up

        @transport.event_handler("on_client_disconnected")
        async def on_disconnected(_transport: object, _client: object) -> None:
            await hang_up("browser left")

        services = {id(llm): "LLM", id(stt): "STT", id(tts): "TTS"}

        @worker.event_handler("on_pipeline_error")
        async def on_error(_worker: object, frame: ErrorFrame) -> None:
            service = services.get(id(frame.processor), str(frame.processor))
            logger.warning(f"session {info.id}: {service} failed: {frame.error}")
            apology = APOLOGIES.get(service, "")
            if service == "LLM":
                status = await probe_ollama(settings.ollama_host, settings.llm_model)
                apology = status.spoken if not status.ok else apology
            bus.publish(ServiceFault(info.id, service=service, error=frame.error, apology=apology))
            fault = {"type": "fault", "service": service, "error": frame.error}
            frames: list[Frame] = [RTVIServerMessageFrame(data=fault)]
            await worker.queue_frames([*frames, TTSSpeakFrame(apology)] if apology else frames)

        bus.publish(SessionStarted(info.id, flow=flow.name, avatar=avatar.live))
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        try:
            await runner.run()
        except asyncio.CancelledError:
            end_reason = "server stopped"
            raise
        except Exception as e:
            end_reason = f"error: {type(e).__name__}: {e}"
            raise
        finally:
            unsubscribe()
            bus.publish(
                SessionEnded(info.id, reason=end_reason, final_state=dict(flow_manager.state))
            )
            await connection.disconnect()
            logger.info(f"session {info.id}: ended ({end_reason})")


def _page_messages(session_id: str, worker: PipelineWorker) -> Callable[[Event], None]:
    """Forward this call's flow node and turn latency to its page as RTVI server messages."""
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()  # held until done, as asyncio asks

    def send(frame: RTVIServerMessageFrame) -> None:
        task = loop.create_task(worker.queue_frames([frame]))
        pending.add(task)
        task.add_done_callback(pending.discard)

    def forward(event: Event) -> None:
        data: dict[str, Any]
        if event.session_id != session_id:
            return
        if isinstance(event, NodeEntered):
            data = {"type": "flow", "node": event.node, "functions": list(event.functions)}
        elif isinstance(event, TurnLatency) and not event.first_turn:
            data = {"type": "latency", **{k: round(v, 3) for k, v in _figures(event).items()}}
        else:
            return
        loop.call_soon_threadsafe(send, RTVIServerMessageFrame(data=data))

    return forward


def _figures(event: TurnLatency) -> dict[str, float]:
    return {
        k: getattr(event, k)
        for k in ("vad_wait", "stt", "turn_wait", "llm", "tools", "tts", "avatar", "voice_to_voice")
    }


def _publish_turns(aggregators: LLMContextAggregatorPair, bus: EventBus, session_id: str) -> None:
    """Finished user and bot utterances onto the bus, as the context records them."""

    @aggregators.user().event_handler("on_user_turn_stopped")
    async def on_user_turn(_aggregator: object, _strategy: object, message: Any) -> None:
        if message.content:
            bus.publish(Turn(session_id, role="user", text=message.content))

    @aggregators.assistant().event_handler("on_assistant_turn_stopped")
    async def on_bot_turn(_aggregator: object, message: Any) -> None:
        if message.content:
            bus.publish(
                Turn(
                    session_id,
                    role="assistant",
                    text=message.content,
                    interrupted=bool(message.interrupted),
                )
            )
