"""End-of-turn choice: smart-turn shared across calls, the same on any CPU, and the speech
timeout only when chosen or when the model cannot load."""

from __future__ import annotations

import numpy as np
import pytest
from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy

from localagent.call import smart_turn, turns
from localagent.call.turn_stop import EvidenceTurnStop
from localagent.cpu import cpu_summary
from localagent.settings import Settings
from localagent.testing.speech import synthesize
from localagent.turns.words import STATEMENT_WAIT_S


def _16k(text: str) -> np.ndarray:
    return synthesize(text, rate=16000).astype(np.float32) / 32768


@pytest.fixture(scope="module")
def smart() -> smart_turn.TurnStop:
    return smart_turn.choose_turn_stop(Settings(turn_stop="smart-turn"))


def test_shared_analyzer_predicts_like_pipecats_own(smart: smart_turn.TurnStop) -> None:
    assert smart.session is not None
    own = LocalSmartTurnAnalyzerV3()
    shared = smart_turn.SharedSmartTurn(smart.session, SmartTurnParams())
    for text in ("My printer will not print anything.", "I need some help with"):
        audio = _16k(text)
        ours, theirs = shared.predict(audio), own._predict_endpoint(audio)
        assert ours["prediction"] == theirs["prediction"]
        assert ours["probability"] == pytest.approx(theirs["probability"], abs=1e-5)
    assert shared.predict(_16k("My printer will not print anything."))["prediction"] == 1


def test_each_call_gets_its_own_analyzer_and_decision_over_one_model(
    smart: smart_turn.TurnStop,
) -> None:
    settings = Settings(smart_turn_stop_secs=1.5, statement_wait_s=0.5)
    a, b = turns.turn_strategies(settings, smart), turns.turn_strategies(settings, smart)
    assert isinstance(a.end_of_turn, EvidenceTurnStop)
    assert isinstance(b.end_of_turn, EvidenceTurnStop)
    assert a.strategies.stop == [a.end_of_turn]
    analyzer = a.end_of_turn.turn_analyzer
    assert analyzer is not b.end_of_turn.turn_analyzer
    assert isinstance(analyzer, smart_turn.SharedSmartTurn) and analyzer.params.stop_secs == 1.5
    assert a.end_of_turn.decision is not b.end_of_turn.decision  # each call adapts its own
    assert a.end_of_turn.decision.statement_wait_s == 0.5
    assert Settings.model_fields["statement_wait_s"].default == STATEMENT_WAIT_S


@pytest.mark.parametrize("inference_s", [0.02, 0.3])
def test_auto_is_smart_turn_whatever_its_speed(
    monkeypatch: pytest.MonkeyPatch, inference_s: float
) -> None:
    # 20 ms on a CPU with AVX-512 VNNI, 300 ms on a slow one: the same decision runs
    monkeypatch.setattr(smart_turn, "_time_inference", lambda _session: inference_s)
    chosen = smart_turn.choose_turn_stop(Settings(turn_stop="auto"))
    assert (chosen.mode, chosen.inference_s) == ("smart-turn", inference_s)
    assert f"{inference_s * 1000:.0f} ms per pause on " in chosen.describe()
    assert cpu_summary() in chosen.describe()  # the log says which CPU measured it


def test_the_speech_timeout_when_chosen() -> None:
    chosen = smart_turn.choose_turn_stop(Settings(turn_stop="speech-timeout"))
    call = turns.turn_strategies(Settings(user_speech_timeout=0.4), chosen)
    (strategy,) = call.strategies.stop or []
    assert isinstance(strategy, SpeechTimeoutUserTurnStopStrategy)
    assert call.end_of_turn is None


def test_auto_survives_a_broken_model_but_an_explicit_choice_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> None:
        raise RuntimeError("onnxruntime is missing")

    monkeypatch.setattr(smart_turn, "_load_session", broken)
    fallback = smart_turn.choose_turn_stop(Settings(turn_stop="auto"))
    assert fallback.mode == "speech-timeout" and "failed to load" in fallback.reason
    with pytest.raises(RuntimeError, match="onnxruntime"):
        smart_turn.choose_turn_stop(Settings(turn_stop="smart-turn"))


def test_speech_timeout_does_not_load_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smart_turn, "_load_session", lambda: pytest.fail("loaded smart-turn"))
    chosen = smart_turn.choose_turn_stop(Settings(turn_stop="speech-timeout"))
    assert chosen.mode == "speech-timeout"
