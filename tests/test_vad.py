"""The VAD hears one-word answers: pipecat's loudness gate lags behind a short word.

The short pieces of the turn corpus ("Two.", "Yes.", a spelled "L,") in its five voice
families, through the app's VAD and through pipecat's own Silero analyzer with the same
parameters. A cough, and a sentence whispered at -60 dBFS, still start neither.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soxr
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADState

from localagent.call.engines import load_vad_session
from localagent.call.services import SharedSileroVAD, window_volume
from localagent.testing.turn_corpus import COUGH, available, speak

WORDS = ["Two.", "Three.", "M.", "Yes.", "No.", "L,", "R,", "nine.", "zero.", "Okay."]
REQUIRE_ESPEAK = bool(os.environ.get("LOCALAGENT_REQUIRE_ESPEAK"))


@pytest.fixture(scope="module")
def session() -> Any:
    return load_vad_session()


def _ours(session: Any) -> VADAnalyzer:
    vad = SharedSileroVAD(engines=SimpleNamespace(vad=session), sample_rate=16000)  # type: ignore[arg-type]
    vad.set_sample_rate(16000)
    return vad


def _pipecats() -> VADAnalyzer:
    vad = SileroVADAnalyzer(sample_rate=16000)
    vad.set_sample_rate(16000)
    return vad


def _starts(vad: VADAnalyzer, pcm48: np.ndarray, gain: float = 1.0) -> bool:
    audio = soxr.resample(pcm48.astype(np.float32) * gain, 48000, 16000).astype(np.int16)
    audio = np.concatenate([np.zeros(8000, np.int16), audio, np.zeros(8000, np.int16)])

    async def run() -> bool:
        for i in range(0, len(audio) - 320, 320):  # 20 ms, as WebRTC delivers it
            if await vad.analyze_audio(audio[i : i + 320].tobytes()) == VADState.SPEAKING:
                return True
        return False

    return asyncio.run(run())


def _said(family: Any, text: str) -> np.ndarray:
    u = speak(family, "piece", [text])
    return u.pcm[: int((u.ends_at + 0.3) * 48000)]


def test_short_answers_start_the_vad_where_pipecats_gate_missed_them(session: Any) -> None:
    if REQUIRE_ESPEAK:
        assert shutil.which("espeak-ng"), "espeak-ng is required here"
    families = available()
    said = [(f, w, _said(f, w)) for f in families for w in WORDS]
    missed = [(f.name, w) for f, w, pcm in said if not _starts(_ours(session), pcm)]
    missed_pipecat = [(f.name, w) for f, w, pcm in said if not _starts(_pipecats(), pcm)]
    # espeak speaks the same every time: every word starts the VAD, where pipecat's gate
    # missed 9 of 30; Piper's voices vary from run to run (and one is in a noisy room)
    espeak = [(f.name, w) for f, w, _ in said if f.needs == "espeak-ng"]
    assert not [m for m in missed if m in espeak], missed
    assert len([m for m in missed_pipecat if m in espeak]) >= len(espeak) // 4, missed_pipecat
    assert len(missed) <= len(said) // 8, missed


def test_a_cough_or_a_whisper_does_not_start_it(session: Any) -> None:
    family = available()[0]
    assert not _starts(_ours(session), _said(family, COUGH))
    sentence = _said(family, "My printer will not print anything.")
    rms = float(np.sqrt(np.mean((sentence.astype(np.float32) / 32768) ** 2)))
    assert not _starts(_ours(session), sentence, gain=10 ** (-60 / 20) / rms)


def test_window_volume_is_pipecats_scale() -> None:
    loud = (np.sin(np.arange(512) / 3) * 0.1 * 32767).astype(np.int16).tobytes()
    assert window_volume(loud) == pytest.approx(
        (20 * np.log10(0.1 / np.sqrt(2)) + 110) / 100, abs=0.01
    )
    assert window_volume(bytes(1024)) == 0.0
