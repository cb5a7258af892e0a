"""smart-turn v3, loaded once per process, and which end-of-turn strategy this process uses.

pipecat's smart-turn v3 model hears whether a sentence sounds finished. Its ONNX session is
loaded once and shared by every call. Its inference takes about 30 ms on a CPU with AVX-512
VNNI and 130-240 ms on one with AVX2 only; it runs in a thread beside the call and only the
turns the words cannot judge wait for its verdict (`localagent.turns.end_of_turn`), so the
same decision runs on every CPU. Start-up times it for the log and the status page, and
that timing changes nothing. `speech-timeout` is pipecat's fixed silence instead: chosen,
or where the model cannot be loaded.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from loguru import logger
from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn, SmartTurnParams
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

from localagent.cpu import cpu_summary
from localagent.settings import Settings

if TYPE_CHECKING:
    import onnxruntime as ort

__all__ = ["SharedSmartTurn", "TurnStop", "choose_turn_stop"]


@dataclass(frozen=True)
class TurnStop:
    """The end-of-turn strategy this process uses, and why."""

    mode: str  # "smart-turn" | "speech-timeout"
    reason: str
    session: ort.InferenceSession | None = None
    inference_s: float | None = None

    def describe(self) -> str:
        return f"{self.mode} ({self.reason})"


class SharedSmartTurn(LocalSmartTurnAnalyzerV3):
    """Smart-turn v3 over an ONNX session loaded once for the process.

    Each call needs its own analyzer (it buffers that call's audio), but not its own copy
    of the model: `InferenceSession.run` is thread-safe. pipecat's constructor always loads
    the model, so this one skips to the base's and sets the two fields it would have set
    (`docs/pipecat.md`, "Private names").
    """

    def __init__(self, session: ort.InferenceSession, params: SmartTurnParams) -> None:
        BaseSmartTurn.__init__(self, params=params)  # skips the per-instance model load
        self._log_data = False
        self._session = session

    def predict(self, audio: np.ndarray) -> dict[str, Any]:
        """One inference on float32 16 kHz audio: {"prediction": 0|1, "probability": p}."""
        return self._predict_endpoint(audio)


def _load_session() -> ort.InferenceSession:
    from importlib import resources

    from localagent.memory import shared_onnx

    model = resources.files("pipecat.audio.turn.smart_turn.data") / "smart-turn-v3.2-cpu.onnx"
    return shared_onnx(str(model), optimize=True)


def _time_inference(session: ort.InferenceSession, runs: int = 5) -> float:
    analyzer = SharedSmartTurn(session, SmartTurnParams())
    speechlike = (np.random.default_rng(0).standard_normal(16000 * 3) * 0.1).astype(np.float32)
    analyzer.predict(speechlike)  # first run allocates
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        analyzer.predict(speechlike)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def choose_turn_stop(settings: Settings) -> TurnStop:
    """Resolve `--turn-stop` (blocking: run it with the models). `auto` is smart-turn
    where its model loads, on any CPU; the speech timeout where it does not."""
    if settings.turn_stop == "speech-timeout":
        return TurnStop("speech-timeout", "chosen")
    try:
        session = _load_session()
        inference_s = _time_inference(session)
    except Exception as e:  # a broken onnxruntime must not stop the app
        if settings.turn_stop == "smart-turn":
            raise
        logger.warning(f"smart-turn unavailable ({type(e).__name__}: {e}); using speech timeout")
        return TurnStop("speech-timeout", "smart-turn failed to load")
    how = "chosen" if settings.turn_stop == "smart-turn" else "auto"
    timing = f"{inference_s * 1000:.0f} ms per pause on {cpu_summary()}"
    return TurnStop("smart-turn", f"{how}; words and smart-turn, {timing}", session, inference_s)
