"""STT, LLM and TTS served from URLs: a spoken call through an OpenAI-compatible
transcription server, an OpenAI-compatible LLM server and Piper's HTTP server, all on
loopback with real models; the egress policy and doctor for each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from localagent.errors import ConfigError
from localagent.privacy.egress import policy_for
from localagent.settings import Settings
from localagent.testing.app_process import fetch_status, run_app
from localagent.testing.caller import Caller
from localagent.testing.fake_ollama import Reply, ThreadedFakeOllama
from localagent.testing.model_servers import ThreadedPiperServer, ThreadedTranscriptionServer

STT_MODEL = "Systran/faster-whisper-tiny.en"


async def test_a_spoken_call_with_every_model_at_a_url(
    fake_ollama: ThreadedFakeOllama, printer_utterance: np.ndarray
) -> None:
    fake_ollama.server.replies.extend(
        [Reply(text="Hello from the help desk."), Reply(text="Let us fix that printer.")]
    )
    fake_ollama.server.requests.clear()
    with ThreadedTranscriptionServer(model=STT_MODEL) as stt, ThreadedPiperServer() as tts:
        flags = (
            "--avatar", "local",
            "--stt-url", f"{stt.url}/v1", "--stt-model", STT_MODEL,
            "--llm-url", f"{fake_ollama.url}/v1",
            "--tts-url", f"{tts.url}/synthesize",
            # The Ollama address is wrong on purpose: nothing may need it.
            "--ollama-host", "http://127.0.0.1:9",
        )  # fmt: skip
        with run_app(*flags) as app:
            assert app.url, app.output
            assert "no whisper loaded" in app.output and "no voice loaded" in app.output
            status = fetch_status(app.url)
            assert status["stt"].startswith("server ") and status["whisper"] is None
            assert status["tts"].startswith("Piper server ") and status["ollama"]["ok"]
            async with Caller(app.url) as caller:
                await caller.wait_for_voice(since=0.0, timeout=60)  # the greeting, from Piper
                await caller.wait_for_silence(quiet_s=1.0, timeout=30)
                ended = await caller.say(printer_utterance)
                await caller.wait_for_voice(since=ended + 0.05, timeout=60)
                await caller.wait_for_silence(quiet_s=1.0, timeout=30)
    heard = fake_ollama.server.user_texts()
    assert any("printer" in t.lower() for t in heard), heard  # STT server → LLM server
    assert stt.server.requests and stt.server.requests[-1]["model"] == STT_MODEL
    assert stt.server.requests[-1]["language"] == "en"
    assert "Hello from the help desk." in " ".join(tts.server.texts)
    assert any("printer" in t for t in tts.server.texts), tts.server.texts


def test_the_egress_policy_allows_exactly_the_configured_servers() -> None:
    policy = policy_for(
        Settings(
            stt_url="http://gpu-box:8000/v1",
            llm_url="http://10.0.0.7:8080/v1",
            tts_url="http://127.0.0.1:5000/synthesize",  # loopback: nothing to allow
            avatar="local",
        )
    )
    assert policy.allowed == {
        "gpu-box": "STT server (--stt-url)",
        "10.0.0.7": "LLM server (--llm-url)",
    }
    with pytest.raises(ConfigError, match="--offline allows no connection"):
        policy_for(Settings(llm_url="http://gpu-box:8000/v1", offline=True, avatar="local"))
    with pytest.raises(ValueError, match="not an http"):
        Settings(stt_url="gpu-box:8000")


def test_doctor_checks_each_server(tmp_path: Path) -> None:
    with ThreadedTranscriptionServer(model=STT_MODEL) as stt, ThreadedPiperServer() as tts:
        env = {
            **os.environ,
            "LOCALAGENT_DATA_DIR": str(tmp_path),
            "LOCALAGENT_STT_URL": f"{stt.url}/v1",
            "LOCALAGENT_TTS_URL": f"{tts.url}/synthesize",
            "LOCALAGENT_LLM_URL": "http://127.0.0.1:9/v1",  # nothing there
        }
        out = subprocess.run(
            [sys.executable, "-m", "localagent", "doctor", "--json"],
            env=env, capture_output=True, text=True,
        ).stdout  # fmt: skip
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["STT server"]["status"] == "ok" and checks["TTS server"]["status"] == "ok"
    assert checks["LLM server"]["status"] == "error" and "--llm-url" in checks["LLM server"]["fix"]
    assert checks["Ollama"]["status"] == "skip"
    assert checks["whisper model"]["status"] == "skip" and checks["Piper voice"]["status"] == "skip"
