"""The app's internal event bus and the events on it.

The runtime publishes small frozen events; the TUI, the page and the session recorder
subscribe. Subscribers never see pipecat frames, so they do not depend on pipecat.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from loguru import logger

__all__ = [
    "LATENCY_FIGURES",
    "LATENCY_LABELS",
    "AvatarChanged",
    "CallActivity",
    "EgressSeen",
    "Event",
    "EventBus",
    "FunctionCalled",
    "LLMExchange",
    "NodeEntered",
    "SessionEnded",
    "RecorderStatus",
    "RequestRefused",
    "ServiceFault",
    "ServiceHealth",
    "ServiceMetric",
    "SessionStarted",
    "StateChanged",
    "TavusAudioSent",
    "ToolResult",
    "Turn",
    "TurnLatency",
    "event_from_dict",
    "event_to_dict",
]


@dataclass(frozen=True)
class Event:
    session_id: str
    at: float = field(default_factory=time.time, kw_only=True)

    @property
    def kind(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class SessionStarted(Event):
    flow: str
    avatar: str


@dataclass(frozen=True)
class SessionEnded(Event):
    reason: str  # "flow ended", "browser left", "server stopped", "error: ..."
    final_state: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn(Event):
    """A finished utterance: the user's transcript or what the bot said."""

    role: str  # "user" or "assistant"
    text: str
    interrupted: bool = False
    # a user turn that goes on with the one before it: the bot took that one for over too
    # soon, and both were answered as one (call/rejoin.py)
    continues: bool = False


@dataclass(frozen=True)
class NodeEntered(Event):
    node: str
    previous: str | None
    functions: tuple[str, ...]  # what the LLM is offered here, globals included


@dataclass(frozen=True)
class FunctionCalled(Event):
    node: str | None
    name: str
    arguments: Mapping[str, Any]
    result: Any
    # False when it did not take effect: bad arguments or a handler error (pipecat's
    # "error"), or a result with status "invalid" (the example flows' validation refusals).
    accepted: bool = True


@dataclass(frozen=True)
class StateChanged(Event):
    state: Mapping[str, Any]


@dataclass(frozen=True)
class TurnLatency(Event):
    """Where one turn's voice-to-voice time went, in seconds (see localagent.call.latency)."""

    vad_wait: float
    stt: float
    turn_wait: float
    llm: float
    tools: float
    tts: float
    avatar: float
    voice_to_voice: float
    first_turn: bool = False  # the greeting, timed from the browser connecting


# The one spelling of each latency figure, in pipeline order, with its label: the TUI, the
# page, the session record and scripts/bench.py all read these names from here.
LATENCY_LABELS: dict[str, str] = {
    "vad_wait": "VAD stop wait",
    "stt": "STT (to final transcript)",
    "turn_wait": "end-of-turn wait",
    "llm": "LLM first token",
    "tools": "tools",
    "tts": "TTS first audio",
    "avatar": "avatar to output",
    "voice_to_voice": "voice-to-voice (server)",
}
LATENCY_FIGURES = tuple(LATENCY_LABELS)


@dataclass(frozen=True)
class TavusAudioSent(Event):
    """One utterance of TTS audio handed to Tavus: the only media that leaves."""

    nbytes: int


@dataclass(frozen=True)
class EgressSeen(Event):
    """An outbound connection the process made (session_id is "" for process-wide)."""

    host: str
    port: int
    allowed: bool
    purpose: str


@dataclass(frozen=True)
class ServiceFault(Event):
    """A model service failed during a call (the call goes on)."""

    service: str  # "LLM", "STT", "TTS", or the processor's name
    error: str
    apology: str = ""  # what the avatar said about it, if anything


@dataclass(frozen=True)
class CallActivity(Event):
    """A live call's audio levels (0..1, loudest of the last moment) and who has the turn."""

    call: str
    caller: float
    bot: float
    state: str  # "listening" | "thinking" | "speaking" | "idle"


@dataclass(frozen=True)
class ServiceHealth(Event):
    """A service's health as it changes (Ollama down, then up again): what it is, the fix."""

    service: str  # "LLM"
    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class RequestRefused(Event):
    """The server refused a kind of request (told once per kind): why, and the fix."""

    status: int
    reason: str


@dataclass(frozen=True)
class RecorderStatus(Event):
    """The session recorder started or stopped being able to write (session_id is "")."""

    ok: bool
    description: str


@dataclass(frozen=True)
class AvatarChanged(Event):
    live: str
    reason: str


@dataclass(frozen=True)
class LLMExchange(Event):
    """One LLM inference: what was sent, what came back, and what it cost.

    Tool results are not in it (they come after the reply ends): each is a `ToolResult`
    with the same tool call id.
    """

    index: int  # 1, 2, ... within the call
    messages: tuple[Mapping[str, Any], ...]  # the whole context sent, system prompt first
    tools: tuple[str, ...]  # the functions offered
    reply: str
    tool_calls: tuple[Mapping[str, Any], ...]  # {"id", "name", "arguments"}
    tokens_in: int | None  # None: the server did not report usage
    tokens_out: int | None
    ttfb: float | None  # seconds to the first token, None when none came
    duration: float  # seconds from the request to the end of the reply
    speculative: bool = False  # asked before the turn was judged over (issue 17)
    complete: bool = True  # False: cut short (an interruption, a withdrawn speculation)
    reasoning: str = ""  # the model's reasoning, never spoken (thinking models)
    reasoning_s: float | None = None  # seconds from the first token to the end of reasoning


@dataclass(frozen=True)
class ToolResult(Event):
    """What a tool call of an `LLMExchange` answered (every tool, flow function or not)."""

    tool_call_id: str
    name: str
    result: Any
    refused: bool  # it did not take effect: an error, "invalid", or no such function here


@dataclass(frozen=True)
class ServiceMetric(Event):
    """One of pipecat's per-service metrics: time to first byte, or processing time."""

    service: str  # "STT", "LLM", "TTS", or the processor's name
    metric: str  # "ttfb" | "processing"
    seconds: float
    model: str | None = None


Subscriber = Callable[[Event], None]


class EventBus:
    """Synchronous fan-out: `publish` calls every subscriber in order; keep them quick."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def publish(self, event: Event) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                logger.opt(exception=True).error(f"event subscriber failed on {event.kind}")


def event_to_dict(event: Event) -> dict[str, Any]:
    """An event as JSON-able data, with its kind: the session record's and the stream's form."""
    return {"kind": event.kind, **asdict(event)}


def event_from_dict(data: Mapping[str, Any]) -> Event | None:
    """The event back from `event_to_dict` (or a recorded row); None for an unknown kind."""
    cls = _KINDS.get(str(data.get("kind")))
    if cls is None:
        return None
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    values.setdefault("session_id", "")
    try:
        return cls(**values)
    except TypeError:  # a row from an older version, missing a field
        return None


_KINDS: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        SessionStarted,
        SessionEnded,
        Turn,
        NodeEntered,
        FunctionCalled,
        StateChanged,
        TurnLatency,
        TavusAudioSent,
        EgressSeen,
        ServiceFault,
        CallActivity,
        ServiceHealth,
        RecorderStatus,
        RequestRefused,
        AvatarChanged,
        LLMExchange,
        ToolResult,
        ServiceMetric,
    )
}
