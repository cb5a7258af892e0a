"""The stage order of a call: the only place that knows it.

browser mic → STT → user turn → LLM (driven by the flow) → tool-loop guard → TTS →
speculative hold → avatar → video out → browser, with the assistant's side of the context
recorded after the output.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.processors.frameworks.rtvi import RTVIObserverParams
from pipecat.transports.base_transport import TransportParams
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport

from localagent.avatar.stage import AvatarStage, create_avatar_stage
from localagent.avatar.video_out import AvatarVideoOut
from localagent.call.activity import ActivityObserver
from localagent.call.bot_mute import BotMute
from localagent.call.early_stt import EarlyWhisperSTTService, create_early_stt
from localagent.call.latency import create_latency_observer
from localagent.call.llm_exchanges import LLMExchangeObserver
from localagent.call.llm_service import CallLLM, create_llm
from localagent.call.rejoin import TurnRejoin
from localagent.call.service_metrics import ServiceMetricsObserver
from localagent.call.services import create_tts, create_vad
from localagent.call.speculation import SpeculationTap, SpeculativeHold
from localagent.call.spoken_words import SpokenWords
from localagent.call.tool_guard import ToolLoopGuard
from localagent.call.turns import TurnCounts, turn_strategies
from localagent.flows.manager import ObservedFlowManager
from localagent.runtime import Runtime

__all__ = ["AUDIO_IN_RATE", "AUDIO_OUT_RATE", "CallPipeline", "build_pipeline"]

AUDIO_IN_RATE = 16000  # what whisper and Silero want
AUDIO_OUT_RATE = 24000
# The RTVI messages the page uses (captions, speaking state); not the per-token LLM and TTS
# text, the LLM's input or per-stage metrics, which cost the data channel a message each
# and which the page gets digested (latency, flow state) from localagent's own messages.
PAGE_RTVI_MESSAGES = RTVIObserverParams(
    bot_llm_enabled=False, bot_tts_enabled=False, user_llm_enabled=False, metrics_enabled=False
)


@dataclass
class CallPipeline:
    """The parts of one call's pipeline that the call itself wires and watches."""

    transport: SmallWebRTCTransport
    worker: PipelineWorker
    flow_manager: ObservedFlowManager
    aggregators: LLMContextAggregatorPair
    avatar: AvatarStage
    video_out: AvatarVideoOut
    llm: CallLLM
    tool_guard: ToolLoopGuard
    bot_mute: BotMute
    services: dict[int, str]  # id(processor) -> "LLM" | "STT" | "TTS", for error reports
    turn_counts: TurnCounts
    rejoin: TurnRejoin


def build_pipeline(
    connection: SmallWebRTCConnection,
    runtime: Runtime,
    call_id: str,
    http: aiohttp.ClientSession,
) -> CallPipeline:
    settings, engines, bus = runtime.settings, runtime.engines, runtime.bus
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
    spoken_words = SpokenWords()  # word timings, from the TTS to the local avatar
    face = runtime.portraits.face(settings.avatar_width, settings.avatar_height)
    avatar = create_avatar_stage(settings, http, runtime.journal, spoken_words, face)
    vad = create_vad(engines)
    llm = create_llm(settings, runtime.model)
    stt = create_early_stt(engines, settings, vad)
    hold = SpeculativeHold()  # a speculative answer, spoken, until its turn is over
    tts = create_tts(engines, spoken_words, hold, settings=settings, http=http)
    video_out = AvatarVideoOut(connection)
    tool_guard = ToolLoopGuard(limit=settings.tool_call_limit)
    llm.may_ask = lambda: not tool_guard.stopped
    bot_mute = BotMute()
    turns = turn_strategies(
        settings, engines.turn_stop, avatar.hush, avatar.can_hush, speculate=settings.speculate
    )
    # The VAD's early signals, before it starts (0.1 s of voice) or stops (0.2 s): whisper
    # starts at the first quiet windows; barge-in hushes a speaking bot at the first voiced
    # ones; the end of turn waits a moment for voice (or faint voice) heard in the silence.
    if isinstance(stt, EarlyWhisperSTTService):
        vad.on_early_silence(stt.silence_began)
    if turns.barge_in is not None:
        vad.on_early_voice(turns.barge_in.early_voice)
    if turns.end_of_turn is not None:
        vad.on_early_voice(turns.end_of_turn.decision.early_voice)
        vad.on_faint_voice(turns.end_of_turn.decision.faint_voice)
    context = LLMContext()
    rejoin = TurnRejoin(context)  # a turn taken too early, answered whole
    if turns.end_of_turn is not None:
        turns.end_of_turn.on_rejoin = rejoin.expect
    aggregators = LLMContextAggregatorPair(
        context,
        user_params=LLMUserAggregatorParams(
            vad_analyzer=vad, user_turn_strategies=turns.strategies
        ),
    )
    stages: list[FrameProcessor] = [
        transport.input(),
        stt,
        aggregators.user(),
        rejoin,
        SpeculationTap(hold),
        llm,
        tool_guard,
        tts,
        bot_mute,
        hold,
        avatar.processor,
        video_out,
        transport.output(),
        aggregators.assistant(),
    ]
    worker = PipelineWorker(
        Pipeline(stages),
        params=PipelineParams(
            audio_in_sample_rate=AUDIO_IN_RATE,
            audio_out_sample_rate=AUDIO_OUT_RATE,
            enable_metrics=True,
            enable_usage_metrics=True,  # tokens in and out, for the cockpit's LLM turns
        ),
        idle_timeout_secs=None,
        observers=[
            create_latency_observer(bus, call_id),
            ActivityObserver(bus, call_id),
            LLMExchangeObserver(bus, call_id, llm),
            ServiceMetricsObserver(bus, call_id),
        ],
        rtvi_observer_params=PAGE_RTVI_MESSAGES,
    )
    flow_manager = ObservedFlowManager(
        bus=bus,
        session_id=call_id,
        llm=llm,
        context_aggregator=aggregators,
        worker=worker,
        transport=transport,
        global_functions=runtime.flow.flow.global_functions,
    )
    return CallPipeline(
        transport=transport,
        worker=worker,
        flow_manager=flow_manager,
        aggregators=aggregators,
        avatar=avatar,
        video_out=video_out,
        llm=llm,
        tool_guard=tool_guard,
        bot_mute=bot_mute,
        services={id(llm): "LLM", id(stt): "STT", id(tts): "TTS"},
        turn_counts=TurnCounts.of(turns, stt),
        rejoin=rejoin,
    )
