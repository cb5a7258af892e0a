"""The session recorder: every session event to SQLite, on a writer thread, surviving faults.

The event loop never waits on the disk. A write that fails (disk full, an I/O error, the
database locked by another program) is not the end of recording: the writer rolls back
that one event (what was committed before stays), reopens the database and tries the same
event again with a growing pause, so when the disk recovers the rest of the call is
recorded in order. While it cannot write, events wait in a bounded queue; past its bound
new ones are counted as dropped rather than grow without limit. Each change of health is
told to `on_health` (the TUI and `/api/status` show it) and logged once.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger

from localagent.events import Event
from localagent.store import SessionStore

__all__ = ["Recorder", "RecorderHealth"]

_RETRY_FIRST_S, _RETRY_MAX_S = 0.2, 5.0
_CLOSE_GRACE_S = 3.0  # how long a closing recorder keeps trying to write what is queued


@dataclass(frozen=True)
class RecorderHealth:
    ok: bool
    error: str | None  # the last write error while not ok
    pending: int  # events waiting to be written
    dropped: int  # events lost because the queue was full (since start)
    written: int

    def describe(self) -> str:
        if self.ok and not self.dropped:
            return f"recording ({self.written} events written)"
        if self.ok:
            return f"recording again; {self.dropped} events were lost while it could not write"
        return (
            f"CANNOT WRITE: {self.error}; {self.pending} events waiting"
            + (f", {self.dropped} lost" if self.dropped else "")
            + " (fix: free disk space or check the data dir)"
        )


class Recorder:
    """Subscribes to the event bus and writes every session event to the store."""

    def __init__(
        self,
        store: SessionStore,
        *,
        max_pending: int = 10_000,
        on_health: Callable[[RecorderHealth], None] | None = None,
    ) -> None:
        self.store = store
        self.on_health = on_health
        self._queue: queue.Queue[Event | None] = queue.Queue(maxsize=max_pending)
        self._seq: dict[str, int] = {}
        self._ok = True
        self._error: str | None = None
        self._dropped = 0
        self._written = 0
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="session-recorder", daemon=True)
        self._thread.start()

    def __call__(self, event: Event) -> None:
        if not event.session_id:
            return  # not a session's event
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 1000 == 0:
                logger.error(
                    f"session recorder: {self._dropped} events dropped, the queue is full "
                    f"({self._queue.maxsize}) while the database cannot be written"
                )

    @property
    def health(self) -> RecorderHealth:
        return RecorderHealth(
            ok=self._ok,
            error=self._error,
            pending=self._queue.qsize(),
            dropped=self._dropped,
            written=self._written,
        )

    def close(self) -> None:
        self._closing.set()
        # A full queue: the writer sees _closing and gives up after its grace period.
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=1.0)
        self._thread.join(_CLOSE_GRACE_S + 7.0)

    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        try:
            while (event := self._queue.get()) is not None:
                seq = self._seq.get(event.session_id, 0) + 1
                self._seq[event.session_id] = seq
                db = self._write(db, event, seq)
                if db is None:  # closing and still unable to write
                    lost = self._queue.qsize() + 1
                    logger.error(f"session recorder: stopped with {lost} events unwritten")
                    return
        finally:
            if db is not None:
                db.close()

    def _write(
        self, db: sqlite3.Connection | None, event: Event, seq: int
    ) -> sqlite3.Connection | None:
        """Write one event, retrying until it is written; the connection to go on with."""
        pause = _RETRY_FIRST_S
        closing_since: float | None = None
        while True:
            try:
                if db is None:
                    db = self.store.connect()
                self.store.write(db, event, seq)
            except sqlite3.Error as e:
                _discard(db)
                db = None
                self._unhealthy(f"{type(e).__name__}: {e}")
            else:
                self._written += 1
                if not self._ok:
                    self._ok, self._error = True, None
                    logger.info("session recorder: writing again, nothing queued was lost")
                    self._tell()
                return db
            if self._closing.is_set():
                closing_since = closing_since or time.monotonic()
                if time.monotonic() - closing_since > _CLOSE_GRACE_S:
                    return None
            self._closing.wait(pause)
            pause = min(pause * 2, _RETRY_MAX_S)

    def _unhealthy(self, error: str) -> None:
        first = self._ok
        self._ok, self._error = False, error
        if first:
            logger.error(
                f"session recorder cannot write {self.store.path}: {error}; "
                "keeping events queued and retrying (fix: free disk space or check the data dir)"
            )
            self._tell()

    def _tell(self) -> None:
        if self.on_health is not None:
            try:
                self.on_health(self.health)
            except Exception:
                logger.opt(exception=True).error("session recorder: health listener failed")


def _discard(db: sqlite3.Connection | None) -> None:
    if db is not None:
        with contextlib.suppress(sqlite3.Error):
            db.rollback()
            db.close()
