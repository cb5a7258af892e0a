"""Simulated time for the turn-taking decisions: the tests' clock and the replay's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from localagent.turns.actions import Action

__all__ = ["Ticking", "SimClock", "pass_time"]


class Ticking(Protocol):
    """A decision that says when it next needs the clock (`EndOfTurn`, `BargeIn`)."""

    @property
    def deadline(self) -> float | None: ...

    def tick(self) -> list[Action]: ...


class SimClock:
    """A clock that moves only when told: `clock()` reads it, `advance(s)` moves it."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now

    def to(self, at: float) -> float:
        """Move to `at` (never back)."""
        self.now = max(self.now, at)
        return self.now


def pass_time(
    clock: SimClock, until: float, decision: Ticking, take: Callable[[list[Action]], object]
) -> None:
    """Move `clock` to `until`, ticking `decision` at each deadline on the way and handing
    what it asks for to `take` (which may give it more signals)."""
    while (due := decision.deadline) is not None and due <= until:
        clock.to(due)
        take(decision.tick())
    clock.to(until)
