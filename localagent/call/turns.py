"""End of turn: which strategy decides the user has finished, chosen for this device.

pipecat's smart-turn v3 model hears whether a sentence sounds finished, so it can answer
right after the VAD stop instead of waiting out a fixed silence, and it waits longer after
a sentence that sounds unfinished. It costs one ONNX inference per pause. `auto` times that
inference at start-up and uses smart-turn when it is fast enough on this machine, else a
fixed silence timeout. The ONNX session is loaded once and shared by every call.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from loguru import logger
from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn, SmartTurnParams
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.services.stt_service import STTService
from pipecat.turns.user_start import TranscriptionUserTurnStartStrategy
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from localagent.call.barge_in import BargeInStart, Hush
from localagent.call.early_stt import EarlyWhisperSTTService
from localagent.call.services import SharedSileroVAD
from localagent.call.speculation import SpeculationCounts
from localagent.call.turn_evidence import EvidenceTurnStop
from localagent.settings import Settings

if TYPE_CHECKING:
    import onnxruntime as ort

__all__ = ["SMART_TURN_BUDGET_S", "TurnCounts", "TurnStop", "choose_turn_stop", "turn_strategies"]

# Above this per-pause inference time smart-turn would add more than it saves over the
# speech timeout (whose wait is 0.6 s); on this project's 2-core test machine it is ~0.03 s.
SMART_TURN_BUDGET_S = 0.15


@dataclass(frozen=True)
class TurnStop:
    """The end-of-turn strategy this process uses, and why."""

    mode: str  # "smart-turn" | "speech-timeout"
    reason: str
    session: ort.InferenceSession | None = None
    inference_s: float | None = None

    def describe(self) -> str:
        return f"{self.mode} ({self.reason})"


@dataclass
class TurnCounts:
    """How one call's turn-taking went, for the status endpoint and the log."""

    speculations: SpeculationCounts | None = None
    barge_ins: dict[str, int] | None = None
    early_stt: dict[str, int] | None = None  # early decodes used as the transcript, wasted

    @classmethod
    def of(cls, strategies: UserTurnStrategies, stt: STTService | None = None) -> TurnCounts:
        stop = next((s for s in strategies.stop or [] if isinstance(s, EvidenceTurnStop)), None)
        start = next((s for s in strategies.start or [] if isinstance(s, BargeInStart)), None)
        return cls(
            speculations=stop.speculations if stop else None,
            barge_ins=start.counts if start else None,
            early_stt=stt.early if isinstance(stt, EarlyWhisperSTTService) else None,
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "speculations": asdict(self.speculations) if self.speculations else None,
            "barge_ins": dict(self.barge_ins) if self.barge_ins is not None else None,
            "early_stt": dict(self.early_stt) if self.early_stt is not None else None,
        }


class SharedSmartTurn(LocalSmartTurnAnalyzerV3):
    """Smart-turn v3 over an ONNX session loaded once for the process.

    Each call needs its own analyzer (it buffers that call's audio), but not its own copy
    of the model: `InferenceSession.run` is thread-safe.
    """

    def __init__(self, session: ort.InferenceSession, params: SmartTurnParams) -> None:
        BaseSmartTurn.__init__(self, params=params)  # skips the per-instance model load
        self._log_data = False
        self._session = session


def _load_session() -> ort.InferenceSession:
    from importlib import resources

    from localagent.memory import shared_onnx

    model = resources.files("pipecat.audio.turn.smart_turn.data") / "smart-turn-v3.2-cpu.onnx"
    return shared_onnx(str(model), optimize=True)


def _time_inference(session: ort.InferenceSession, runs: int = 5) -> float:
    analyzer = SharedSmartTurn(session, SmartTurnParams())
    speechlike = (np.random.default_rng(0).standard_normal(16000 * 3) * 0.1).astype(np.float32)
    analyzer._predict_endpoint(speechlike)  # first run allocates
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        analyzer._predict_endpoint(speechlike)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def choose_turn_stop(settings: Settings) -> TurnStop:
    """Resolve `--turn-stop auto` for this machine (blocking: run it with the models)."""
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
    timing = f"smart-turn {inference_s * 1000:.0f} ms per pause"
    if settings.turn_stop == "smart-turn":
        return TurnStop("smart-turn", f"chosen, {timing}", session, inference_s)
    if inference_s > SMART_TURN_BUDGET_S:
        return TurnStop("speech-timeout", f"auto: {timing} is too slow", None, inference_s)
    return TurnStop("smart-turn", f"auto: {timing}", session, inference_s)


def turn_strategies(
    settings: Settings,
    turn_stop: TurnStop,
    hush: Hush | None = None,
    vad: SharedSileroVAD | None = None,
    speculate: bool = False,
) -> UserTurnStrategies:
    """A fresh set of strategies for one call; with `hush`, barge-in tells a backchannel
    from an interruption (else pipecat's: any voice interrupts), hushing on `vad`'s early
    voice; with `speculate`, a pending end of turn starts the answer (the pipeline must
    hold it: `localagent.call.speculation`)."""
    start = None
    if hush is not None and settings.barge_in == "words":
        barge_in = BargeInStart(hush=hush)
        if vad is not None:
            vad.on_early_voice(barge_in.early_voice)
        start = [barge_in, TranscriptionUserTurnStartStrategy()]
    if turn_stop.mode == "smart-turn" and turn_stop.session is not None:
        params = SmartTurnParams(stop_secs=settings.smart_turn_stop_secs)
        analyzer: Any = SharedSmartTurn(turn_stop.session, params)
        stop = EvidenceTurnStop(
            turn_analyzer=analyzer,
            speculate=speculate,
            statement_wait_s=settings.statement_wait_s,
        )
        if vad is not None:
            vad.on_early_voice(stop.early_voice)
            stop.faint_voice_at = lambda: vad.faint_voice_at
        return UserTurnStrategies(start=start, stop=[stop])
    return UserTurnStrategies(
        start=start,
        stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=settings.user_speech_timeout)],
    )
