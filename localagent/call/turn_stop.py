"""The end-of-turn decision (`localagent.turns.end_of_turn`) as a pipecat stop strategy.

A thin adapter on pipecat's public API: the frames the user turn controller hands a stop
strategy become the decision's signals, its actions become the strategy's public triggers
(`trigger_user_turn_stopped`, `trigger_user_turn_inference_triggered` with a
`UserTurnSpeculation`, `trigger_user_turn_speculation_cancelled`, ...), and its deadline a
task (`DeadlineTimer`). smart-turn runs through the analyzer's public methods
(`append_audio`, `analyze_end_of_turn`, `clear`): its inference is started at the VAD's stop
and its verdict joins the decision when it is done, so a slow CPU delays only the turns
that wait on it, and the frames behind it are not held up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from loguru import logger
from pipecat.audio.turn.base_turn_analyzer import BaseTurnAnalyzer, EndOfTurnState
from pipecat.frames.frames import (
    EagerEndOfTurnCancelFrame,
    Frame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    LLMRunFrame,
    MetricsFrame,
    SpeechControlParamsFrame,
    StartFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.turns.types import ProcessFrameResult, UserTurnSpeculation
from pipecat.turns.user_stop import BaseUserTurnStopStrategy

from localagent.call.deadline import DeadlineTimer
from localagent.turns.actions import Action, AskAgain, EndTurn, Rejoin, Speculate, Withdraw
from localagent.turns.end_of_turn import EndOfTurn, SpeculationCounts

__all__ = ["EvidenceTurnStop"]


class EvidenceTurnStop(BaseUserTurnStopStrategy):
    """Ends the user turn when `decision` says so (see the module)."""

    def __init__(self, *, decision: EndOfTurn, turn_analyzer: BaseTurnAnalyzer, **kwargs: Any):
        super().__init__(**kwargs)
        self.decision = decision
        # told when the caller went on with a turn taken too early (`call/rejoin.py`)
        self.on_rejoin: Callable[[], None] = lambda: None
        self._analyzer = turn_analyzer
        self._timer = DeadlineTimer(
            f"{self}", lambda: self.task_manager, lambda: decision.deadline, self._tick
        )
        self._verdicts: set[asyncio.Task[None]] = set()

    @property
    def turn_analyzer(self) -> BaseTurnAnalyzer:
        return self._analyzer

    # pipecat's strategies take a FrameProcessorSetup here; its BaseObject's signature says a
    # task manager, which mypy holds the override to
    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        await super().setup(setup)
        self._analyzer.set_sample_rate(setup.audio_in_sample_rate)

    async def cleanup(self) -> None:
        await self._timer.stop()
        for task in list(self._verdicts):
            await self.task_manager.cancel_task(task)
        await self._analyzer.cleanup()
        await super().cleanup()

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        await super().process_frame(frame)
        d = self.decision
        if isinstance(frame, StartFrame):
            await self.broadcast_frame(SpeechControlParamsFrame, turn_params=self._analyzer.params)
        elif isinstance(frame, InputAudioRawFrame):
            # the analyzer buffers the turn's audio; the decision keeps smart-turn's longest
            # wait itself, so the state this returns is not needed
            self._analyzer.append_audio(frame.audio, d.voice_on)
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self._analyzer.update_vad_start_secs(frame.start_secs)
            await self._act(d.voice_started(frame.start_secs))
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            await self._act(d.voice_stopped(frame.stop_secs))
            self._ask_smart_turn(d.silence)
        elif isinstance(frame, TranscriptionFrame):
            await self._act(d.transcript(frame.text, final=bool(frame.finalized)))
        elif isinstance(frame, InterimTranscriptionFrame):
            d.transcript(frame.text, final=False)
        elif isinstance(frame, EagerEndOfTurnCancelFrame):
            await self._act(d.llm_withdrew())
        return ProcessFrameResult.CONTINUE

    async def handle_user_turn_started(self) -> None:
        await self._act(self.decision.turn_started())

    async def handle_user_turn_stopped(self) -> None:
        await self._act(self.decision.turn_stopped())
        self._analyzer.clear()

    def _ask_smart_turn(self, silence: int) -> None:
        """smart-turn's verdict on this silence, in its own thread; the decision takes it
        when it comes (and ignores it if the caller has gone on since)."""

        async def verdict() -> None:
            try:
                state, metrics = await self._analyzer.analyze_end_of_turn()
            except Exception as e:  # its longest wait still ends the turn
                logger.warning(f"{self}: smart-turn failed ({type(e).__name__}: {e})")
                return
            finally:
                self._verdicts.discard(task)
            if metrics is not None:
                await self.push_frame(MetricsFrame(data=[metrics]))
            await self._act(self.decision.smart_turn(state == EndOfTurnState.COMPLETE, silence))

        task = self.task_manager.create_task(verdict(), f"{self}::smart-turn")
        self._verdicts.add(task)

    async def _tick(self) -> None:
        await self._act(self.decision.tick())

    async def _act(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Speculate):
                logger.debug(f"{self}: answering ahead of the turn's end: [{action.text}]")
                speculation = UserTurnSpeculation(text=action.text)
                await self.trigger_user_turn_inference_triggered(speculation=speculation)
            elif isinstance(action, Withdraw):
                logger.debug(f"{self}: withdrawing the answer to [{action.text}] ({action.why})")
                await self.trigger_user_turn_speculation_cancelled()
            elif isinstance(action, EndTurn):
                self._analyzer.clear()
                if action.confirms_speculation:
                    await self.trigger_user_turn_finalized(confirms_speculation=True)
                else:
                    await self.trigger_user_turn_stopped()
            elif isinstance(action, Rejoin):
                logger.debug(f"{self}: the caller went on: the turn is answered whole")
                self.on_rejoin()
            elif isinstance(action, AskAgain):
                logger.debug(f"{self}: the confirmed answer wanted a tool call: asking again")
                await self.push_frame(LLMRunFrame())
        self._timer.update()

    @property
    def speculations(self) -> SpeculationCounts:
        return self.decision.speculations
