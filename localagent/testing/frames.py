"""A processor that keeps every frame that passes it, with when, for tests of a stage."""

from __future__ import annotations

import time

from pipecat.frames.frames import Frame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

__all__ = ["FrameLog"]


class FrameLog(FrameProcessor):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[float, Frame]] = []  # (time.monotonic(), frame)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        self.seen.append((time.monotonic(), frame))
        await self.push_frame(frame, direction)

    def of(self, kind: type) -> list[tuple[float, Frame]]:
        return [(t, f) for t, f in self.seen if isinstance(f, kind)]
