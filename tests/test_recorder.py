"""The session recorder survives write errors, bounds its backlog, and marks crashed sessions."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from localagent.data_dir import check_data_dir
from localagent.errors import ConfigError
from localagent.events import SessionEnded, SessionStarted, Turn
from localagent.recorder import Recorder, RecorderHealth
from localagent.store import CRASHED, SessionStore


class FullDisk(SessionStore):
    """A store whose writes fail the way SQLite reports a full disk, while `full` is set."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.full = threading.Event()

    def write(self, db: sqlite3.Connection, event: object, seq: int) -> None:
        if self.full.is_set():
            raise sqlite3.OperationalError("database or disk is full")
        super().write(db, event, seq)  # type: ignore[arg-type]


def wait_until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_write_error_mid_call_keeps_the_rest_of_the_call(tmp_path: Path) -> None:
    store = FullDisk(tmp_path / "sessions.sqlite3")
    told: list[RecorderHealth] = []
    recorder = Recorder(store, on_health=told.append)
    recorder(SessionStarted("s1", flow="helpdesk", avatar="local"))
    recorder(Turn("s1", role="user", text="before the disk filled"))
    wait_until(lambda: recorder.health.written == 2)
    store.full.set()
    for i in range(5):
        recorder(Turn("s1", role="assistant", text=f"while full {i}"))
    wait_until(lambda: not recorder.health.ok)
    assert recorder.health.pending >= 4 and "disk is full" in (recorder.health.error or "")
    # What was written before is still there, readable by another connection.
    assert [e["text"] for e in store.get("s1").turns] == ["before the disk filled"]  # type: ignore[union-attr]
    store.full.clear()
    recorder(SessionEnded("s1", reason="browser left"))
    wait_until(lambda: recorder.health.pending == 0 and recorder.health.ok)
    recorder.close()
    record = store.get("s1")
    assert record is not None and record.end_reason == "browser left"
    texts = [e["text"] for e in record.turns]
    assert texts == ["before the disk filled", *[f"while full {i}" for i in range(5)]]
    assert [h.ok for h in told] == [False, True], told
    assert "CANNOT WRITE" in told[0].describe() and "free disk space" in told[0].describe()


def test_the_backlog_is_bounded_and_what_was_dropped_is_counted(tmp_path: Path) -> None:
    store = FullDisk(tmp_path / "sessions.sqlite3")
    store.full.set()
    recorder = Recorder(store, max_pending=10)
    for i in range(50):
        recorder(Turn("s1", role="user", text=str(i)))
    wait_until(lambda: not recorder.health.ok)
    health = recorder.health
    assert health.pending <= 10 and health.dropped >= 39, health
    store.full.clear()
    wait_until(lambda: recorder.health.pending == 0)
    recorder.close()
    assert recorder.health.ok and "lost" in recorder.health.describe()


def test_a_recorder_closing_on_a_dead_disk_gives_up(tmp_path: Path) -> None:
    store = FullDisk(tmp_path / "sessions.sqlite3")
    store.full.set()
    recorder = Recorder(store)
    recorder(Turn("s1", role="user", text="never written"))
    wait_until(lambda: not recorder.health.ok)
    started = time.monotonic()
    recorder.close()
    assert time.monotonic() - started < 8, "close() hung on a disk that never recovers"


def test_sessions_a_crash_left_open_are_marked_crashed(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions.sqlite3")
    recorder = Recorder(store)
    recorder(SessionStarted("s1", flow="helpdesk", avatar="local"))
    recorder(Turn("s1", role="user", text="hello", at=1000.0))
    recorder(SessionStarted("s2", flow="helpdesk", avatar="local"))
    recorder(SessionEnded("s2", reason="browser left"))
    recorder.close()
    assert store.mark_crashed() == 1
    crashed, ended = store.get("s1"), store.get("s2")
    assert crashed is not None and crashed.end_reason == CRASHED and crashed.ended_at == 1000.0
    assert ended is not None and ended.end_reason == "browser left"
    assert store.mark_crashed() == 0


def test_an_unwritable_data_dir_is_one_line_with_a_fix(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")
    with pytest.raises(ConfigError) as e:
        check_data_dir(blocked / "data")
    assert "cannot be written" in e.value.message and "LOCALAGENT_DATA_DIR" in e.value.fix


def test_a_corrupt_sessions_database_is_refused_and_kept(tmp_path: Path) -> None:
    database = tmp_path / "sessions.sqlite3"
    garbage = b"this is not a database" * 100
    database.write_bytes(garbage)
    with pytest.raises(ConfigError) as e:
        check_data_dir(tmp_path)
    assert "unusable" in e.value.message and "mv " in e.value.fix
    assert database.read_bytes() == garbage  # nothing was rewritten


class FailsAfterCommit(SessionStore):
    """The commit reached the disk, then SQLite reported an I/O error anyway (once)."""

    failed = False

    def write(self, db: sqlite3.Connection, event: object, seq: int) -> None:
        super().write(db, event, seq)  # type: ignore[arg-type]
        if not self.failed:
            self.failed = True
            raise sqlite3.OperationalError("disk I/O error")


def test_a_write_retried_after_its_commit_lands_once(tmp_path: Path) -> None:
    store = FailsAfterCommit(tmp_path / "sessions.sqlite3")
    recorder = Recorder(store)
    recorder(SessionStarted("s1", flow="helpdesk", avatar="local"))
    recorder(Turn("s1", role="user", text="once"))
    wait_until(lambda: recorder.health.written == 2)
    recorder.close()
    record = store.get("s1")
    assert record is not None and [e["text"] for e in record.turns] == ["once"]
