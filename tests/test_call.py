"""A real call over WebRTC on loopback: an aiortc caller speaks, the avatar answers."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from localagent.testing.app_process import AppProcess, fetch_status
from localagent.testing.caller import Caller
from localagent.testing.fake_ollama import Reply, ThreadedFakeOllama, ToolCall


async def test_spoken_turn_reaches_llm_and_avatar_answers(
    app: AppProcess, fake_ollama: ThreadedFakeOllama, printer_utterance: np.ndarray
) -> None:
    server = fake_ollama.server
    server.requests.clear()
    whisper_before = fetch_status(app.url)["whisper"]
    server.replies.extend(
        [
            Reply(text="Hi, I'm Ada from the help desk. What can I do for you?"),
            Reply(tool_calls=(ToolCall("record_issue", {"summary": "printer will not print"}),)),
            Reply(text="Try turning the printer off and on again. Did that help?"),
        ]
    )
    async with Caller(app.url) as caller:
        # The flow greets first; wait for the greeting to finish before speaking.
        greeting_at = await caller.wait_for_voice(since=0.0, timeout=60)
        await caller.wait_for_silence(quiet_s=1.0, timeout=30)
        speech_end = await caller.say(printer_utterance)
        first_reply_audio = await caller.wait_for_voice(since=speech_end + 0.05, timeout=60)
        await caller.wait_for_silence(quiet_s=1.0, timeout=30)
        reply_ended = caller.voiced_since(first_reply_audio)[-1].at
        idle_from = time.monotonic()
        await asyncio.sleep(1.0)
        idle_frames = sum(t >= idle_from for t in caller.video_times)
        turns = fetch_status(app.url)["sessions"][0]["turns"]

    # Whisper started at a silence's first tenth of a second. Whether that decode was the
    # transcript depends on this CPU keeping up (tests/test_early_stt.py checks it where it
    # does): a decode still running when the last silence begins leaves that one to the stop.
    assert turns["early_stt"]["used"] + turns["early_stt"]["wasted"] >= 1, turns

    heard = [t.lower() for t in server.user_texts() if t]
    assert any("printer" in t for t in heard), f"transcript never reached the LLM: {heard}"
    # The sentence was transcribed over whisper's short window and trusted there.
    whisper = fetch_status(app.url)["whisper"]
    assert whisper["window_s"] == 10
    assert whisper["short_decodes"] > whisper_before["short_decodes"]
    assert whisper["fallbacks"] == whisper_before["fallbacks"], whisper
    # greeting, the tool call, and the reply after the transition to 'help'
    assert len(server.requests) >= 3
    help_prompt = str(server.requests[-1]["messages"])
    assert "printer will not print" in help_prompt, "flow state did not reach the next node"
    assert greeting_at < speech_end < first_reply_audio
    assert caller.video_size == (1280, 720)
    # A talking face changes nearly every frame; an idle one is re-sent only when it moves
    # or blinks, and at least every half second.
    talking = sum(first_reply_audio <= t < reply_ended for t in caller.video_times)
    talking_fps = talking / (reply_ended - first_reply_audio)
    print(f"\nvideo: {talking_fps:.1f} fps talking, {idle_frames} frames in an idle second")
    assert talking_fps >= 12, f"avatar video stalled while talking: {talking_fps:.1f} fps"
    assert idle_frames >= 2, f"idle avatar video stalled: {idle_frames} frames in a second"
    assert caller.last_video is not None and caller.last_video.std() > 10, "blank video"
    latency = first_reply_audio - speech_end
    print(f"\nend of caller speech -> first bot audio: {latency:.2f}s")
    assert time.monotonic() > first_reply_audio


async def test_ctrl_c_mid_call_ends_the_session_and_exits_zero(
    fake_ollama: ThreadedFakeOllama,
) -> None:
    import signal

    from localagent.testing.app_process import run_app

    with run_app("--ollama-host", fake_ollama.url) as app:
        async with Caller(app.url) as caller:
            await caller.wait_for_voice(since=0.0, timeout=60)
            app.proc.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 10
            while app.proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
    assert app.proc.returncode == 0, app.output
    assert any("ended" in line and "session" in line for line in app.lines), app.output
    assert "Traceback" not in app.output
