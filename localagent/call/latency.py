"""The one definition of each latency figure, from pipecat's own latency observer.

pipecat's `UserBotLatencyObserver` splits each user-silence-to-bot-speech interval into
named contributions that sum to the whole; this module maps them onto localagent's
figures and publishes one `TurnLatency` per turn. The TUI, the session record and
`scripts/bench.py` all read these.

    vad_wait        Silero's stop wait: the user's real end of speech to VAD "stopped"
    stt             end of the VAD segment to the final whisper transcript
    turn_wait       the end-of-turn strategy's hold after that (speech timeout / smart turn),
                    until the turn's release even when a speculative answer ran under it
    llm             LLM time to first token
    tools           tool calls and their handlers, when the turn made any (and, once the
                    LLM was asked before the turn ended, their dispatch and the LLM's return)
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


def _figure(key: str) -> str | None:
    return next((figure for figure, keys in _KEYS.items() if key in keys), None)


def turn_latency(session_id: str, breakdown: LatencyBreakdown) -> TurnLatency:
    sums = dict.fromkeys(_KEYS, 0.0)
    for contribution in breakdown.contributions:
        if figure := _figure(contribution.key):
            sums[figure] += contribution.duration_secs
    released = _after_release(breakdown, sums)
    return TurnLatency(
        session_id,
        **(released or sums),
        voice_to_voice=breakdown.total_secs,
        first_turn=breakdown.measured_from == MeasuredFrom.CLIENT_CONNECTED,
    )


def _after_release(breakdown: LatencyBreakdown, sums: dict[str, float]) -> dict[str, float] | None:
    """The figures when the LLM started before the turn was over (a speculative answer).

    pipecat's spans then put the wait for the end of the turn wherever it fell: after a
    withdrawn tool call it is unnamed pipeline time, behind a held answer it is output
    time, and it showed as "avatar". What the caller waited for is the turn's release:
    everything until it is VAD, STT and the end-of-turn wait; after it, each stage's own
    time, and what no stage covers goes to the tools when the turn called any (their
    dispatch and the LLM's return to the conversation), else to the output.
    """
    start, turn = breakdown.user_turn_start_time, breakdown.user_turn_secs
    if start is None or turn is None or turn < sums["vad_wait"] + sums["stt"] - 0.01:
        return None
    release = start + turn
    out = dict.fromkeys(_KEYS, 0.0)
    out["vad_wait"], out["stt"] = sums["vad_wait"], sums["stt"]
    out["turn_wait"] = max(0.0, turn - out["vad_wait"] - out["stt"])
    for c in breakdown.contributions:
        figure = _figure(c.key)
        if figure in (None, "vad_wait", "stt", "turn_wait") or c.key == "pipeline":
            continue
        assert figure is not None
        out[figure] += max(0.0, c.start_time + c.duration_secs - max(c.start_time, release))
    covered = sum(out.values())
    rest = max(0.0, breakdown.total_secs - covered)
    out["tools" if breakdown.function_calls else "avatar"] += rest
    return out


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
