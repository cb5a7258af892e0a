"""The latency figures from pipecat's breakdown, when the LLM started before the turn ended.

The figures are localagent's reading of `LatencyBreakdown`; here the breakdowns are the
ones pipecat built for a real speculative turn that called a tool (see the numbers in
`localagent/call/latency.py`'s `_after_release`), written out.
"""

from __future__ import annotations

from pipecat.observers.user_bot_latency_observer import (
    FunctionCallMetrics,
    LatencyBreakdown,
    LatencyContribution,
    LatencyOwnerKind,
    MeasuredFrom,
)

from localagent.call.latency import turn_latency

T0 = 1000.0


def part(key: str, start: float, seconds: float) -> LatencyContribution:
    return LatencyContribution(
        key=key,
        label=key,
        owner="x",
        owner_kind=LatencyOwnerKind.SERVICE,
        start_time=T0 + start,
        duration_secs=seconds,
    )


def test_a_speculative_tool_turn_puts_the_wait_at_the_turn_and_not_at_the_avatar() -> None:
    # The caller stopped at 0; the transcript came at 0.409 and the LLM was asked at once
    # (a speculation, withdrawn: it wanted a tool); the turn was released at 0.702, the
    # tool ran at 0.716, the answer's LLM at 0.739, audio at 0.904, speech at 0.918.
    breakdown = LatencyBreakdown(
        contributions=[
            part("endpointing_wait", 0.0, 0.2),
            part("transcription", 0.2, 0.209),
            part("turn_detection", 0.409, 0.006),
            part("llm_inference", 0.415, 0.004),
            part("llm_inference", 0.708, 0.007),
            part("llm_inference", 0.739, 0.009),
            part("speech_synthesis", 0.748, 0.156),
            part("output_transport", 0.904, 0.014),
            part("pipeline", 0.0, 0.313),
        ],
        measured_from=MeasuredFrom.USER_SILENCE,
        total_secs=0.918,
        user_turn_start_time=T0,
        user_turn_secs=0.702,
        function_calls=[
            FunctionCallMetrics(
                function_name="record_issue", start_time=T0 + 0.716, duration_secs=0.0
            )
        ],
    )
    figures = turn_latency("s", breakdown)
    assert round(figures.turn_wait, 3) == 0.293  # 0.702 - VAD 0.2 - STT 0.209
    assert round(figures.llm, 3) == 0.016  # the two inferences after the release
    assert round(figures.tts, 3) == 0.156 and round(figures.avatar, 3) == 0.014
    assert round(figures.tools, 3) == 0.03  # dispatch and the LLM's return to the call
    parts = (figures.vad_wait, figures.stt, figures.turn_wait, figures.llm, figures.tools)
    assert abs(sum(parts) + figures.tts + figures.avatar - figures.voice_to_voice) < 1e-6


def test_an_ordinary_turn_keeps_pipecats_own_split() -> None:
    breakdown = LatencyBreakdown(
        contributions=[
            part("endpointing_wait", 0.0, 0.2),
            part("transcription", 0.2, 0.3),
            part("turn_detection", 0.5, 0.1),
            part("llm_inference", 0.6, 0.15),
            part("speech_synthesis", 0.75, 0.1),
            part("output_transport", 0.85, 0.01),
        ],
        measured_from=MeasuredFrom.USER_SILENCE,
        total_secs=0.86,
        user_turn_start_time=T0,
        user_turn_secs=0.6,
    )
    figures = turn_latency("s", breakdown)
    assert (round(figures.turn_wait, 3), round(figures.llm, 3), round(figures.avatar, 3)) == (
        0.1,
        0.15,
        0.01,
    )
    assert figures.tools == 0.0
