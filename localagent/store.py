"""Sessions recorded in SQLite as they happen: turns, flow path, function calls, state.

Every event is committed as it arrives (by `localagent.recorder.Recorder`, on its own
thread), so a crash loses at most the events of the last few milliseconds; a session a
crash left open is marked as such at the next start.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from localagent.events import (
    AvatarChanged,
    Event,
    FunctionCalled,
    LLMExchange,
    NodeEntered,
    ServiceFault,
    ServiceMetric,
    SessionEnded,
    SessionStarted,
    StateChanged,
    TavusAudioSent,
    ToolResult,
    Turn,
    TurnLatency,
)

__all__ = ["CRASHED", "SessionRecord", "SessionStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    flow TEXT NOT NULL,
    avatar TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    end_reason TEXT,
    final_state TEXT
);
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    seq INTEGER NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
"""


# Session events kept in the record (egress and avatar changes included: what left the
# machine is part of the record).
_RECORDED = (
    Turn,
    NodeEntered,
    FunctionCalled,
    StateChanged,
    SessionEnded,
    TurnLatency,
    TavusAudioSent,
    AvatarChanged,
    ServiceFault,
    LLMExchange,
    ToolResult,
    ServiceMetric,
)


CRASHED = "crashed (localagent stopped without ending the call)"


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


@dataclass(frozen=True)
class SessionRecord:
    id: str
    flow: str
    avatar: str
    started_at: float
    ended_at: float | None
    end_reason: str | None
    final_state: dict[str, Any] | None
    events: list[dict[str, Any]]

    @property
    def turns(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == "Turn"]

    @property
    def path(self) -> list[str]:
        return [e["node"] for e in self.events if e["kind"] == "NodeEntered"]

    @property
    def function_calls(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == "FunctionCalled"]

    @property
    def state(self) -> dict[str, Any]:
        """The final state, or the last one recorded if the session never ended."""
        if self.final_state is not None:
            return self.final_state
        changes = [e["state"] for e in self.events if e["kind"] == "StateChanged"]
        return changes[-1] if changes else {}

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "path": self.path}


class SessionStore:
    """Read and write access to the sessions database (one connection per thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        db = self.connect()
        try:
            db.executescript(_SCHEMA)
        finally:
            db.close()

    def connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def write(self, db: sqlite3.Connection, event: Event, seq: int) -> None:
        if isinstance(event, SessionStarted):
            db.execute(
                "INSERT OR REPLACE INTO sessions (id, flow, avatar, started_at) "
                "VALUES (?, ?, ?, ?)",
                (event.session_id, event.flow, event.avatar, event.at),
            )
        elif isinstance(event, SessionEnded):
            db.execute(
                "UPDATE sessions SET ended_at=?, end_reason=?, final_state=? WHERE id=?",
                (event.at, event.reason, _json(dict(event.final_state)), event.session_id),
            )
        if isinstance(event, _RECORDED):
            payload = {k: v for k, v in asdict(event).items() if k not in ("session_id", "at")}
            db.execute(
                # OR IGNORE: a write retried after an error that came after its commit
                # lands once, rather than fail on its own first copy forever.
                "INSERT OR IGNORE INTO events (session_id, seq, at, kind, payload) "
                "VALUES (?, ?, ?, ?, ?)",
                (event.session_id, seq, event.at, event.kind, _json(payload)),
            )
        if db.in_transaction:
            db.commit()

    def mark_crashed(self) -> int:
        """End the sessions an earlier run left open; how many there were."""
        with closing(self.connect()) as db, db:
            cursor = db.execute(
                "UPDATE sessions SET end_reason = ?, ended_at = COALESCE("
                "(SELECT MAX(at) FROM events WHERE session_id = sessions.id), started_at) "
                "WHERE ended_at IS NULL",
                (CRASHED,),
            )
            return cursor.rowcount

    def list(self, limit: int = 50) -> list[SessionRecord]:
        with closing(self.connect()) as db:
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM sessions ORDER BY started_at DESC LIMIT ?", (limit,)
                )
            ]
        return [r for i in ids if (r := self.get(i)) is not None]

    def get(self, session_id: str) -> SessionRecord | None:
        with closing(self.connect()) as db:
            row = db.execute(
                "SELECT id, flow, avatar, started_at, ended_at, end_reason, "
                "final_state FROM sessions WHERE id = ? OR id LIKE ?",
                (session_id, session_id + "%"),
            ).fetchone()
            if row is None:
                return None
            events = [
                {"kind": kind, "at": at, **json.loads(payload)}
                for kind, at, payload in db.execute(
                    "SELECT kind, at, payload FROM events WHERE session_id = ? ORDER BY seq",
                    (row[0],),
                )
            ]
        return SessionRecord(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            json.loads(row[6]) if row[6] else None,
            events,
        )
