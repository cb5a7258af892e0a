"""What the turn-taking decisions ask for: the typed outputs a driver carries out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "Action",
    "AskAgain",
    "Clock",
    "EndTurn",
    "Handled",
    "Hush",
    "LiftHush",
    "Rejoin",
    "ResetAggregation",
    "Speculate",
    "StartTurn",
    "Withdraw",
]

Clock = Callable[[], float]  # monotonic seconds: time.monotonic in a call, simulated elsewhere


@dataclass(frozen=True)
class Speculate:
    """Start answering `text` now, while the turn's end is still being decided; the
    answer is held until the turn ends (`EndTurn(confirms_speculation=True)`)."""

    text: str


@dataclass(frozen=True)
class Withdraw:
    """Drop the speculative answer to `text`: nothing of it may reach the caller."""

    text: str
    why: str


@dataclass(frozen=True)
class EndTurn:
    """The caller's turn is over. With `confirms_speculation`, the answer already being
    prepared answers it; else ask the LLM now."""

    confirms_speculation: bool = False


@dataclass(frozen=True)
class Rejoin:
    """The caller went on with the turn just taken as over: the answer to its first part
    (stopped by barge-in) is dropped, and the turn is answered whole, as one message."""


@dataclass(frozen=True)
class AskAgain:
    """The confirmed answer was withdrawn by the LLM (it wanted a tool call): ask again,
    or the turn goes unanswered."""


@dataclass(frozen=True)
class Hush:
    """Pause the bot's voice and mouth where they are: the caller may be interrupting."""


@dataclass(frozen=True)
class LiftHush:
    """Go on from where the hush paused the bot."""


@dataclass(frozen=True)
class StartTurn:
    """The caller's turn starts; over the bot it is an interruption, which drops the rest
    of its answer."""

    why: str
    interruption: bool = True


@dataclass(frozen=True)
class ResetAggregation:
    """Forget the words gathered for a turn: they were a backchannel."""


Action = (
    Speculate
    | Withdraw
    | EndTurn
    | Rejoin
    | AskAgain
    | Hush
    | LiftHush
    | StartTurn
    | ResetAggregation
)


@dataclass(frozen=True)
class Handled:
    """A barge-in signal's outcome: the actions, and whether the signal is used up (the
    frame that carried it goes no further: a backchannel's words start no turn)."""

    consumed: bool = False
    actions: tuple[Action, ...] = field(default_factory=tuple)
