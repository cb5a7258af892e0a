"""The turn-taking decisions replayed in simulated time over what the models heard.

A `Recording` is what the real Silero VAD, whisper (early and final decodes) and smart-turn
made of one stretch of a caller's audio, each with the time it took on the machine that
recorded it (`scripts/turns_replay.py` makes and caches them). Replaying it runs the same
`EndOfTurn` or `BargeIn` a call runs, on a `SimClock`, in microseconds: the signals reach
the decision when they would in a call (whisper's transcript when its decode is done, with
the early decode's one-at-a-time rule; smart-turn's verdict after its inference), and the
outcome says when the turn ended and what the caller would have heard.

What a replay cannot know it takes as parameters: `answer_s`, from the LLM being asked to
the first audio of the answer leaving the server, and `to_caller_s`, from there to the
caller's ear. Both come from `scripts/turns_bench.py`'s real calls ("where the time went").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from localagent.turns.actions import (
    Action,
    EndTurn,
    Handled,
    Hush,
    Rejoin,
    Speculate,
    StartTurn,
    Withdraw,
)
from localagent.turns.barge_in import BargeIn
from localagent.turns.clock import SimClock, Ticking, pass_time
from localagent.turns.end_of_turn import EndOfTurn

__all__ = [
    "BargeOutcome",
    "Decode",
    "EarlySilence",
    "Recording",
    "ReplaySettings",
    "Silence",
    "TurnOutcome",
    "replay_barge_in",
    "replay_turn",
]


@dataclass(frozen=True)
class Decode:
    """A whisper decode: its text ('' when whisper heard only silence) and its time."""

    text: str
    took_s: float


@dataclass(frozen=True)
class Silence:
    """One VAD stop and what the models made of it (times in seconds of the audio)."""

    stop_at: float
    phase: int  # the VAD's silence count at the stop (`SharedSileroVAD.silence_phase`)
    final: Decode  # whisper on the segment, at the VAD's stop
    verdict: bool  # smart-turn: the turn sounds finished
    verdict_s: float  # its inference time


@dataclass(frozen=True)
class EarlySilence:
    """The VAD's first quiet windows after speech, and whisper on the segment so far."""

    at: float
    phase: int
    decode: Decode
    windows: int = 3  # the quiet VAD windows it came after (the call's `early_silence_windows`)


@dataclass(frozen=True)
class Recording:
    """The VAD's, whisper's and smart-turn's view of a stretch of audio."""

    starts: list[float]  # VAD starts (audio time)
    silences: list[Silence]
    early_silences: list[EarlySilence] = field(default_factory=list)
    early_voices: list[float] = field(default_factory=list)  # the first voiced windows
    faint_voices: list[float] = field(default_factory=list)  # windows that may be voice
    start_secs: float = 0.2
    stop_secs: float = 0.2

    def slower(self, whisper: float = 1.0, smart_turn: float = 1.0) -> Recording:
        """The same recording on a CPU where whisper and smart-turn take these times as
        long (an AVX2-only CPU: whisper ~2.5x, smart-turn ~8x one with AVX-512 VNNI)."""

        def w(d: Decode) -> Decode:
            return replace(d, took_s=d.took_s * whisper)

        silences = [
            replace(s, final=w(s.final), verdict_s=s.verdict_s * smart_turn) for s in self.silences
        ]
        early = [replace(e, decode=w(e.decode)) for e in self.early_silences]
        return replace(self, silences=silences, early_silences=early)


@dataclass(frozen=True)
class ReplaySettings:
    speculate: bool = True
    statement_wait_s: float | None = None  # None: EndOfTurn's default
    unsure_wait_s: float | None = None
    early_stt: bool = True
    early_silence_windows: int = 3  # which of the recording's early decodes the call makes
    rejoin: bool = True  # a turn the caller went on with is answered whole (call/rejoin.py)
    answer_s: float = 0.29  # LLM asked -> first answer audio leaves the server
    to_caller_s: float = 0.19  # server -> the caller's ear


@dataclass
class TurnOutcome:
    """How a replayed turn went, times from the real end of the caller's last word."""

    ended: list[float]  # each end of turn the decision made
    heard: list[float]  # when the caller would hear each answer start
    speculated: int  # answers started ahead of the turn's end
    withdrawn: int
    asked_early: int  # LLM requests before the caller had finished (as turns_bench counts)
    # for each answer started before the turn was over, how much of it the caller heard
    # before the bot fell silent for them going on (0: stopped before it reached them)
    overlaps: list[float] = field(default_factory=list)
    rejoined: int = 0  # ends the caller went on after, taken back: the turn answered whole

    @property
    def split(self) -> bool:
        """Answered in parts: ended more than once, other than the ends taken back."""
        return len(self.ended) - self.rejoined > 1

    @property
    def early_start(self) -> bool:
        """An answer was started before the caller had finished."""
        return bool(self.overlaps)

    @property
    def cut_in(self) -> bool:
        """The caller heard the bot before their turn was over."""
        return any(o > 0 for o in self.overlaps)

    @property
    def answered(self) -> bool:
        return bool(self.heard)

    @property
    def voice_to_voice(self) -> float | None:
        """The caller's last word to the bot's first, for a turn the bot let finish."""
        return None if self.cut_in or not self.heard else self.heard[-1]


Event = tuple[float, int, Callable[[], list[Action]]]  # (when, order, signal)


def _run(
    clock: SimClock,
    events: list[Event],
    decision: Ticking,
    take: Callable[[list[Action]], None],
    until: float,
) -> None:
    """Deliver `events` in time order, ticking at every deadline on the way."""
    for at, _, signal in sorted(events, key=lambda e: (e[0], e[1])):
        pass_time(clock, at, decision, take)
        take(signal())
    pass_time(clock, until, decision, take)


def _transcripts(rec: Recording, settings: ReplaySettings) -> list[tuple[float, str]]:
    """When each segment's transcript reaches the decision, and its text: from the early
    decode of this silence when one ran (one at a time: an early silence while the last
    decode runs starts none), else decoded at the stop (`call/early_stt.py`)."""
    started: list[EarlySilence] = []
    windows = [e for e in rec.early_silences if e.windows == settings.early_silence_windows]
    for e in windows if settings.early_stt else []:
        if not started or e.at >= started[-1].at + started[-1].decode.took_s:
            started.append(e)
    out = []
    for s in rec.silences:
        before = [e for e in started if e.at <= s.stop_at]
        early = before[-1] if before and before[-1].phase == s.phase else None
        if early is not None:
            out.append((max(s.stop_at, early.at + early.decode.took_s), early.decode.text))
        else:
            out.append((s.stop_at + s.final.took_s, s.final.text))
    return out


def replay_turn(rec: Recording, real_end: float, settings: ReplaySettings) -> TurnOutcome:
    """Replay `EndOfTurn` over a turn whose last word really ended at `real_end`."""
    clock = SimClock(rec.starts[0] - 1.0 if rec.starts else 0.0)
    kwargs = {
        name: value
        for name, value in [
            ("statement_wait_s", settings.statement_wait_s),
            ("unsure_wait_s", settings.unsure_wait_s),
        ]
        if value is not None
    }
    d = EndOfTurn(clock=clock, speculate=settings.speculate, **kwargs)
    ended: list[float] = []
    heard: list[float] = []
    asked: dict[str, float] = {}  # speculated text -> when
    overlaps: list[float] = []
    counts = {"speculated": 0, "withdrawn": 0, "early": 0, "rejoined": 0}
    in_turn = False

    def take(actions: list[Action]) -> None:
        nonlocal in_turn
        for a in actions:
            if isinstance(a, Speculate):
                asked[a.text] = clock.now
                counts["speculated"] += 1
                counts["early"] += clock.now < real_end - 0.05
            elif isinstance(a, Withdraw):
                counts["withdrawn"] += 1
            elif isinstance(a, Rejoin):
                counts["rejoined"] += settings.rejoin
            elif isinstance(a, EndTurn):
                counts["early"] += clock.now < real_end - 0.05 and not a.confirms_speculation
                text = d.turn_text
                ready = asked.get(text, clock.now) if a.confirms_speculation else clock.now
                release = max(clock.now, ready + settings.answer_s)
                ended.append(clock.now - real_end)
                heard.append(release + settings.to_caller_s - real_end)
                if clock.now < real_end - 0.05:
                    overlaps.append(_heard_of_early_start(rec, clock.now, release, real_end))
                in_turn = False
                take(d.turn_stopped())

    def start(at: float) -> Callable[[], list[Action]]:
        def signal() -> list[Action]:
            nonlocal in_turn
            first = [] if in_turn else d.turn_started()
            in_turn = True
            return first + d.voice_started(rec.start_secs)

        return signal

    events: list[Event] = [(t, 0, _signal(d.early_voice)) for t in rec.early_voices]
    events += [(t, 0, _signal(d.faint_voice)) for t in rec.faint_voices]
    events += [(t, 1, start(t)) for t in rec.starts]
    for n, s in enumerate(rec.silences, start=1):
        events.append((s.stop_at, 2, lambda: d.voice_stopped(rec.stop_secs)))
        events.append((s.stop_at + s.verdict_s, 4, _verdict(d, s.verdict, n)))
    for at, text in _transcripts(rec, settings):
        if text:
            events.append((at, 3, lambda text=text: d.transcript(text)))  # type: ignore[misc]
    last = max([real_end, *(e[0] for e in events)])
    _run(clock, events, d, take, until=last + 5.0)
    return TurnOutcome(
        ended,
        heard,
        counts["speculated"],
        counts["withdrawn"],
        counts["early"],
        overlaps,
        counts["rejoined"],
    )


def _heard_of_early_start(
    rec: Recording, ended_at: float, release: float, real_end: float
) -> float:
    """Seconds of an answer started too early that the caller hears (audio time).

    The answer leaves the server at `release`. The caller going on is seen first as early
    voice (`BargeIn` hushes a speaking bot on it) and then as the VAD's start (which, within
    `FRESH_ANSWER_S` of the answer, interrupts it; before the answer has begun, it starts a
    turn, and the answer never plays). The caller hears the bot from `release` until the
    first of those that comes once it speaks, each shifted by the same way to their ear;
    with neither, over the rest of the caller's speech.
    """
    voice = min((t for t in rec.early_voices if t >= ended_at), default=None)
    start = min((t for t in rec.starts if t >= ended_at), default=None)
    if start is not None and start < release:
        return 0.0
    signals = [t for t in (voice, start) if t is not None and t >= release]
    if not signals:
        return max(0.0, real_end - release)
    return min(signals) - release


def _signal(f: Callable[[], None]) -> Callable[[], list[Action]]:
    def signal() -> list[Action]:
        f()
        return []

    return signal


def _verdict(d: EndOfTurn, complete: bool, silence: int) -> Callable[[], list[Action]]:
    return lambda: d.smart_turn(complete, silence)


@dataclass
class BargeOutcome:
    """What the caller's sound over the bot did, times from its first sound."""

    stopped: bool  # the answer was given up (a turn started)
    silenced_after: float | None  # the bot fell silent (hushed or stopped), at the caller


def replay_barge_in(
    rec: Recording, voice_at: float, settings: ReplaySettings, can_hush: bool = True
) -> BargeOutcome:
    """Replay `BargeIn` over sound that began at `voice_at`, the bot long into an answer."""
    clock = SimClock(voice_at - 5.0)
    d = BargeIn(clock=clock, can_hush=lambda: can_hush)
    d.bot_started()
    acts: list[tuple[float, Action]] = []

    def take(actions: list[Action]) -> None:
        for a in actions:
            acts.append((clock.now, a))
            if isinstance(a, StartTurn):
                acts.extend((clock.now, b) for b in d.turn_started())

    def handled(h: Callable[[], Handled]) -> Callable[[], list[Action]]:
        return lambda: list(h().actions)

    events: list[Event] = [(t, 0, lambda: d.early_voice()) for t in rec.early_voices]
    events += [(t, 1, handled(lambda: d.voice_started(rec.start_secs))) for t in rec.starts]
    for s in rec.silences:
        events.append((s.stop_at, 2, handled(lambda: d.voice_stopped(rec.stop_secs))))
    for at, text in _transcripts(rec, settings):
        if text:
            events.append((at, 3, handled(lambda text=text: d.transcript(text))))  # type: ignore[misc]
    last = max([voice_at, *(e[0] for e in events)])
    _run(clock, events, d, take, until=last + 3.0)
    stopped = any(isinstance(a, StartTurn) for _, a in acts)
    silent = [t for t, a in acts if isinstance(a, Hush | StartTurn)]
    after = silent[0] - voice_at + settings.to_caller_s if silent else None
    return BargeOutcome(stopped, after)
