"""Calls a turn-taking decision's `tick()` when its `deadline` comes, in a running call.

The decisions (`localagent.turns`) never sleep: they say when they next need the clock.
This is the one place that turns that into an asyncio task on pipecat's task manager.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from pipecat.utils.asyncio.task_manager import BaseTaskManager

__all__ = ["DeadlineTimer"]


class DeadlineTimer:
    """Runs `on_due()` once the clock reaches `deadline()`, rescheduled by `update()`."""

    def __init__(
        self,
        name: str,
        tasks: Callable[[], BaseTaskManager],
        deadline: Callable[[], float | None],
        on_due: Callable[[], Awaitable[None]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = name
        self._tasks = tasks  # the owner's task manager, there once the owner is set up
        self._deadline = deadline
        self._on_due = on_due
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._at: float | None = None

    def update(self) -> None:
        """Follow the decision's deadline after it took a signal."""
        at = self._deadline()
        if at == self._at and (at is None or self._task is not None):
            return
        self._cancel()
        self._at = at
        if at is not None:
            self._task = self._tasks().create_task(self._wait(at), f"{self._name}::deadline")

    async def stop(self) -> None:
        task, self._task, self._at = self._task, None, None
        if task is not None and task is not asyncio.current_task():
            await self._tasks().cancel_task(task)

    def _cancel(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()  # it only sleeps before it acts: nothing to clean up

    async def _wait(self, at: float) -> None:
        await asyncio.sleep(max(0.0, at - self._clock()))
        self._task, self._at = None, None
        await self._on_due()
        self.update()
