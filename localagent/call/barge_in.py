"""The barge-in decision (`localagent.turns.barge_in`) as a pipecat start strategy.

A thin adapter on pipecat's public API: the frames the user turn controller hands a start
strategy become the decision's signals; `StartTurn` is `trigger_user_turn_started`,
`ResetAggregation` is `trigger_reset_aggregation`, `Hush` and `LiftHush` call the avatar's
`hush`; a frame the decision used up is consumed (`ProcessFrameResult.STOP`), so a
backchannel's transcript starts no turn further on. Put it first among the start
strategies.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.turns.types import ProcessFrameResult
from pipecat.turns.user_start import BaseUserTurnStartStrategy

from localagent.call.deadline import DeadlineTimer
from localagent.turns.actions import Action, Handled, Hush, LiftHush, ResetAggregation, StartTurn
from localagent.turns.barge_in import COMMIT_AFTER_S, HEARD_NOTHING_S, BargeIn

__all__ = ["BargeInStart", "HushControl"]

HushControl = Callable[[bool], object]  # hush(True) pauses the bot's voice, hush(False) resumes


class BargeInStart(BaseUserTurnStartStrategy):
    """A user turn start strategy that tells an interruption from a backchannel."""

    def __init__(
        self,
        *,
        hush: HushControl,
        can_hush: Callable[[], bool] = lambda: True,
        commit_after_s: float = COMMIT_AFTER_S,
        heard_nothing_s: float = HEARD_NOTHING_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._hush = hush
        self.decision = BargeIn(
            clock=time.monotonic,
            can_hush=can_hush,
            commit_after_s=commit_after_s,
            heard_nothing_s=heard_nothing_s,
        )
        self._timer = DeadlineTimer(
            f"{self}", lambda: self.task_manager, lambda: self.decision.deadline, self._tick
        )

    @property
    def counts(self) -> dict[str, int]:
        return self.decision.counts

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        d = self.decision
        handled = Handled()
        if isinstance(frame, BotStartedSpeakingFrame):
            d.bot_started()
        elif isinstance(frame, BotStoppedSpeakingFrame):
            d.bot_stopped()
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            handled = d.voice_started(frame.start_secs)
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            handled = d.voice_stopped(frame.stop_secs)
        elif isinstance(frame, (TranscriptionFrame, InterimTranscriptionFrame)):
            handled = d.transcript(frame.text, final=isinstance(frame, TranscriptionFrame))
        await self._act(list(handled.actions))
        return ProcessFrameResult.STOP if handled.consumed else ProcessFrameResult.CONTINUE

    def early_voice(self) -> None:
        """The VAD's first voiced windows: a speaking bot is hushed at once."""
        for action in self.decision.early_voice():
            self._carry_out_hush(action)
        self._timer.update()

    async def handle_user_turn_started(self) -> None:
        await self._act(self.decision.turn_started())

    async def cleanup(self) -> None:
        await self._timer.stop()
        await self._act(self.decision.stop())
        await super().cleanup()

    async def _tick(self) -> None:
        await self._act(self.decision.tick())

    async def _act(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, StartTurn):
                if action.interruption:
                    logger.debug(f"{self}: interruption ({action.why})")
                await self.trigger_user_turn_started()
            elif isinstance(action, ResetAggregation):
                await self.trigger_reset_aggregation()
            else:
                self._carry_out_hush(action)
        self._timer.update()

    def _carry_out_hush(self, action: Action) -> None:
        if isinstance(action, Hush):
            logger.debug(f"{self}: the caller spoke over the bot: hushed")
            self._hush(True)
        elif isinstance(action, LiftHush):
            self._hush(False)
