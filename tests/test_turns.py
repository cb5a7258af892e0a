"""End-of-turn choice: smart-turn shared across calls, chosen per device, timeout fallback."""

from __future__ import annotations

import numpy as np
import pytest
from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy

from localagent.call import turns
from localagent.call.turn_evidence import STATEMENT_WAIT_S, EvidenceTurnStop
from localagent.settings import Settings
from localagent.testing.speech import synthesize


def _16k(text: str) -> np.ndarray:
    return synthesize(text, rate=16000).astype(np.float32) / 32768


@pytest.fixture(scope="module")
def smart() -> turns.TurnStop:
    return turns.choose_turn_stop(Settings(turn_stop="smart-turn"))


def test_shared_analyzer_predicts_like_pipecats_own(smart: turns.TurnStop) -> None:
    assert smart.session is not None
    own = LocalSmartTurnAnalyzerV3()
    shared = turns.SharedSmartTurn(smart.session, SmartTurnParams())
    for text in ("My printer will not print anything.", "I need some help with"):
        audio = _16k(text)
        ours, theirs = shared._predict_endpoint(audio), own._predict_endpoint(audio)
        assert ours["prediction"] == theirs["prediction"]
        assert ours["probability"] == pytest.approx(theirs["probability"], abs=1e-5)
    assert shared._predict_endpoint(_16k("My printer will not print anything."))["prediction"] == 1


def test_each_call_gets_its_own_analyzer_over_one_model(smart: turns.TurnStop) -> None:
    settings = Settings(smart_turn_stop_secs=1.5, statement_wait_s=0.5)
    a = (turns.turn_strategies(settings, smart).stop or [None])[0]
    b = (turns.turn_strategies(settings, smart).stop or [None])[0]
    assert isinstance(a, EvidenceTurnStop) and isinstance(b, EvidenceTurnStop)
    assert a._turn_analyzer is not b._turn_analyzer
    assert a._turn_analyzer._session is b._turn_analyzer._session is smart.session
    assert a._turn_analyzer.params.stop_secs == 1.5
    assert a._statement_wait_s == b._statement_wait_s == 0.5  # each call adapts its own
    assert Settings.model_fields["statement_wait_s"].default == STATEMENT_WAIT_S


def test_auto_picks_by_measured_inference_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turns, "_time_inference", lambda _session: 0.02)
    fast = turns.choose_turn_stop(Settings(turn_stop="auto"))
    assert (fast.mode, fast.inference_s) == ("smart-turn", 0.02)
    assert "20 ms" in fast.describe()

    monkeypatch.setattr(turns, "_time_inference", lambda _session: turns.SMART_TURN_BUDGET_S * 2)
    slow = turns.choose_turn_stop(Settings(turn_stop="auto"))
    assert slow.mode == "speech-timeout" and slow.session is None
    assert "too slow" in slow.reason
    strategy = (turns.turn_strategies(Settings(user_speech_timeout=0.4), slow).stop or [None])[0]
    assert isinstance(strategy, SpeechTimeoutUserTurnStopStrategy)
    assert strategy._user_speech_timeout == 0.4


def test_auto_survives_a_broken_model_but_an_explicit_choice_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> None:
        raise RuntimeError("onnxruntime is missing")

    monkeypatch.setattr(turns, "_load_session", broken)
    assert turns.choose_turn_stop(Settings(turn_stop="auto")).mode == "speech-timeout"
    with pytest.raises(RuntimeError, match="onnxruntime"):
        turns.choose_turn_stop(Settings(turn_stop="smart-turn"))


def test_speech_timeout_does_not_load_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turns, "_load_session", lambda: pytest.fail("loaded smart-turn"))
    chosen = turns.choose_turn_stop(Settings(turn_stop="speech-timeout"))
    assert chosen.mode == "speech-timeout"
