"""One call's turn strategies: the decisions of `localagent.turns` in pipecat's places.

The end of the turn is `localagent.turns.end_of_turn`'s decision (whisper's words weighed
with smart-turn's verdict, `call/smart_turn.py`), or pipecat's fixed speech timeout where
this process chose it; barge-in is `localagent.turns.barge_in`'s decision, or pipecat's
(any voice interrupts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
from pipecat.services.stt_service import STTService
from pipecat.turns.user_start import TranscriptionUserTurnStartStrategy
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from localagent.call.barge_in import BargeInStart, HushControl
from localagent.call.early_stt import EarlyWhisperSTTService
from localagent.call.smart_turn import SharedSmartTurn, TurnStop
from localagent.call.turn_stop import EvidenceTurnStop
from localagent.settings import Settings
from localagent.turns.actions import Clock
from localagent.turns.end_of_turn import EndOfTurn, SpeculationCounts

__all__ = ["CallTurns", "TurnCounts", "turn_strategies"]


@dataclass
class TurnCounts:
    """How one call's turn-taking went, for the status endpoint and the log."""

    speculations: SpeculationCounts | None = None
    barge_ins: dict[str, int] | None = None
    early_stt: dict[str, int] | None = None  # early decodes used as the transcript, wasted

    @classmethod
    def of(cls, turns: CallTurns, stt: STTService | None = None) -> TurnCounts:
        stop, start = turns.end_of_turn, turns.barge_in
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


@dataclass(frozen=True)
class CallTurns:
    """One call's turn strategies, and the two of ours in them (None where pipecat's own
    stands in), for the pipeline to wire the VAD's early signals to."""

    strategies: UserTurnStrategies
    barge_in: BargeInStart | None
    end_of_turn: EvidenceTurnStop | None


def turn_strategies(
    settings: Settings,
    turn_stop: TurnStop,
    hush: HushControl | None = None,
    can_hush: Callable[[], bool] | None = None,
    speculate: bool = False,
    clock: Clock = time.monotonic,
) -> CallTurns:
    """A fresh set of strategies for one call; with `hush`, barge-in tells a backchannel
    from an interruption (else pipecat's: any voice interrupts); with `speculate`, a
    pending end of turn starts the answer (the pipeline must hold it:
    `localagent.call.speculation`)."""
    start, barge_in = None, None
    if hush is not None and settings.barge_in == "words":
        barge_in = BargeInStart(hush=hush, can_hush=can_hush or (lambda: True))
        start = [barge_in, TranscriptionUserTurnStartStrategy()]
    if turn_stop.mode == "smart-turn" and turn_stop.session is not None:
        params = SmartTurnParams(stop_secs=settings.smart_turn_stop_secs)
        decision = EndOfTurn(
            clock=clock,
            speculate=speculate,
            statement_wait_s=settings.statement_wait_s,
            smart_turn_max_s=settings.smart_turn_stop_secs,
        )
        stop = EvidenceTurnStop(
            decision=decision, turn_analyzer=SharedSmartTurn(turn_stop.session, params)
        )
        return CallTurns(UserTurnStrategies(start=start, stop=[stop]), barge_in, stop)
    timeout = SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=settings.user_speech_timeout)
    return CallTurns(UserTurnStrategies(start=start, stop=[timeout]), barge_in, None)
