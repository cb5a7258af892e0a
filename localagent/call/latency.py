"""The one definition of each latency figure, from pipecat's own latency observer.

pipecat's `UserBotLatencyObserver` splits each user-silence-to-bot-speech interval into
named contributions that sum to the whole; this module maps them onto localagent's
figures and publishes one `TurnLatency` per turn. The TUI, the session record and
`scripts/bench.py` all read these.

    vad_wait        Silero's stop wait: the user's real end of speech to VAD "stopped"
    stt             end of the VAD segment to the final whisper transcript
    turn_wait       the end-of-turn strategy's hold after that (speech timeout / smart turn)
    llm             LLM time to first token
    tools           tool calls and their handlers, when the turn made any
    tts             first text to first TTS audio (sentence aggregation + synthesis)
    avatar          first TTS audio to the first bot audio at the output transport
                    (the avatar's pacing and rendering; Tavus's round trip when on Tavus)
    voice_to_voice  the user's real end of speech to the first bot audio leaving
"""

from __future__ import annotations

from pipecat.observers.user_bot_latency_observer import (
    LatencyBreakdown,
    MeasuredFrom,
    UserBotLatencyObserver,
)

from localagent.events import EventBus, TurnLatency

__all__ = ["create_latency_observer", "turn_latency"]

_KEYS = {
    "vad_wait": ("endpointing_wait",),
    "stt": ("transcription",),
    "turn_wait": ("turn_detection", "waiting_for_user", "turn_completion"),
    "llm": ("llm_inference", "first_request", "awaiting_speakable_text"),
    "tools": ("llm_tool_call", "function_handler"),
    "tts": ("sentence_aggregation", "speech_synthesis"),
    "avatar": ("output_transport", "pipeline"),
}


def turn_latency(session_id: str, breakdown: LatencyBreakdown) -> TurnLatency:
    sums = dict.fromkeys(_KEYS, 0.0)
    for contribution in breakdown.contributions:
        for figure, keys in _KEYS.items():
            if contribution.key in keys:
                sums[figure] += contribution.duration_secs
    return TurnLatency(
        session_id,
        **sums,
        voice_to_voice=breakdown.total_secs,
        first_turn=breakdown.measured_from == MeasuredFrom.CLIENT_CONNECTED,
    )


def create_latency_observer(bus: EventBus, session_id: str) -> UserBotLatencyObserver:
    """An observer to add to the session's PipelineWorker (needs enable_metrics=True)."""
    observer = UserBotLatencyObserver()
    published = 0

    @observer.event_handler("on_latency_breakdown")
    async def on_breakdown(_observer: object, breakdown: LatencyBreakdown) -> None:
        nonlocal published
        # A turn is timed from the user's silence; only the greeting, the first thing the
        # bot says, is timed from the browser connecting.
        from_user = breakdown.measured_from == MeasuredFrom.USER_SILENCE
        if breakdown.contributions and (from_user or published == 0):
            published += 1
            bus.publish(turn_latency(session_id, breakdown))

    return observer
