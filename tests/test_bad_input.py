"""Bad input gets a clear message: start-up errors, refused offers, an absent Ollama."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from localagent.testing.app_process import AppProcess, run_app, wait_exit
from localagent.testing.caller import Caller
from localagent.testing.cli import free_port
from localagent.testing.fake_ollama import ThreadedFakeOllama


def _start_failure(*args: str) -> tuple[int, str]:
    with run_app(*args) as app:
        code = wait_exit(app)
    return code, app.output


def test_missing_whisper_model_is_one_clear_message(tmp_path: Path) -> None:
    code, out = _start_failure("--whisper-model", "base.en", "--models-dir", str(tmp_path))
    assert code == 1
    assert "Whisper model 'base.en' is not on this machine" in out
    assert f"{tmp_path}/base.en" in out  # where to put it
    assert "Traceback" not in out


def test_missing_piper_voice_file_is_one_clear_message(tmp_path: Path) -> None:
    code, out = _start_failure("--piper-voice", str(tmp_path / "nobody.onnx"))
    assert code == 1
    assert f"Piper voice file {tmp_path / 'nobody.onnx'} does not exist" in out
    assert "Traceback" not in out


def test_unknown_flow_lists_the_available_ones() -> None:
    code, out = _start_failure("--flow", "no_such_flow")
    assert code == 1
    assert "Flow 'no_such_flow' not found" in out and "helpdesk" in out
    assert "Traceback" not in out


def test_port_in_use_is_reported() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with run_app("--port", str(port)) as app:
            code = wait_exit(app)
    # run_app passes --port 0 first; the later --port wins
    assert code == 2
    assert f"Port {port} on 127.0.0.1 is already in use" in app.output


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"sdp": "not an sdp", "type": "offer"}, 400, "Malformed SDP offer"),
        (
            {"sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "type": "offer"},
            400,
            "no DTLS fingerprint",
        ),
        (
            {
                "sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 00\r\n",
                "type": "offer",
            },
            400,
            "Could not accept the offer",
        ),
        ({"sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", "type": "offer"}, 400, "no audio"),
        (
            {"sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "type": "answer"},
            400,
            "type 'offer'",
        ),
        ({"type": "offer"}, 422, "sdp"),
        ({"sdp": "v=0\r\n" + "a=x\r\n" * 20000, "type": "offer"}, 422, "sdp"),
    ],
)
async def test_bad_offers_are_refused_with_a_reason(
    app: AppProcess, body: dict[str, str], status: int, detail: str
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{app.url}/api/offer", json=body) as resp,
    ):
        assert resp.status == status
        assert detail in await resp.text()


async def test_non_json_offer_and_unknown_peer(app: AppProcess) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{app.url}/api/offer",
            data=b"\x00garbage",
            headers={"Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 422
        patch = {
            "pc_id": "nope",
            "candidates": [
                {
                    "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host",
                    "sdp_mid": "0",
                    "sdp_mline_index": 0,
                }
            ],
        }
        async with http.patch(f"{app.url}/api/offer", json=patch) as resp:
            assert resp.status == 404
            assert "Peer connection not found" in await resp.text()
        # the server is still healthy afterwards
        async with http.get(f"{app.url}/api/status") as resp:
            assert resp.status == 200


async def test_unreachable_ollama_is_said_at_startup_on_the_page_and_in_the_call() -> None:
    host = f"http://127.0.0.1:{free_port()}"
    with run_app("--ollama-host", host) as app:
        assert app.url, app.output
        assert f"Ollama is not reachable at {host}" in app.output
        assert "ollama serve" in app.output
        async with aiohttp.ClientSession() as http, http.get(f"{app.url}/api/status") as resp:
            status = await resp.json()
        assert status["ollama"]["ok"] is False
        assert "not reachable" in status["ollama"]["problem"]
        async with Caller(app.url) as caller:
            # nobody speaks: the avatar itself says what is wrong
            first = await caller.wait_for_voice(since=0.0, timeout=30)
            await caller.wait_for_silence(quiet_s=1.0, timeout=30)
            spoken = len(caller.voiced_since(first)) * 0.02
        assert spoken > 2.0, f"notice too short to be speech: {spoken:.1f}s"
        assert any("Ollama is not reachable" in line for line in app.lines if "session" in line)


async def test_model_not_pulled_is_explained() -> None:
    with (
        ThreadedFakeOllama(models=("qwen2.5:0.5b",)) as other,
        run_app("--ollama-host", other.url) as app,
    ):
        assert "does not have the model 'llama3.2:3b'" in app.output
        assert "ollama pull llama3.2:3b" in app.output
        async with Caller(app.url) as caller:
            await caller.wait_for_voice(since=0.0, timeout=30)
        assert other.server.requests == []  # nothing was sent to a model that is not there


def test_voiced_helper_is_not_fooled_by_silence() -> None:
    # Guards the assertion above: silence frames must not count as speech.
    from localagent.testing.caller import ReceivedAudio

    c = Caller("http://127.0.0.1:9")
    c.audio = [ReceivedAudio(at=float(i), rms=0.0) for i in range(10)]
    assert c.voiced_since(0.0) == []
    c.audio.append(ReceivedAudio(at=11.0, rms=float(np.float32(0.2))))
    assert len(c.voiced_since(0.0)) == 1
