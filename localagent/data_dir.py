"""Whether the data dir can hold what localagent keeps there, asked before the models load.

A data dir that cannot be created or written, or a sessions database that is not one (or
is damaged), stops the start in one line with its fix, before the models load rather than
as a traceback after. Nothing there is deleted or rewritten to get past it.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

from localagent.errors import ConfigError

__all__ = ["SESSIONS_DB", "check_data_dir", "check_sessions_database"]

SESSIONS_DB = "sessions.sqlite3"
_ELSEWHERE = "or set LOCALAGENT_DATA_DIR to a writable directory"


def check_data_dir(data_dir: Path, *, sessions: bool = True) -> None:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise ConfigError(
            f"The data dir {data_dir} cannot be written ({reason}).",
            f"make it writable for this user ({_owner_hint(data_dir)}) {_ELSEWHERE}",
        ) from None
    database = data_dir / SESSIONS_DB
    if sessions and database.exists():
        check_sessions_database(database)


def check_sessions_database(database: Path) -> None:
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=rw", uri=True, timeout=5)) as db:
            problems = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
    except sqlite3.Error as e:
        problems = [f"{type(e).__name__}: {e}"]
    if problems != ["ok"]:
        raise ConfigError(
            f"The sessions database {database} is unusable ({'; '.join(problems)}).",
            f"move it aside (mv {database} {database}.broken) and start again; "
            "a new one is created and the old file is kept for you",
        )


def _owner_hint(path: Path) -> str:
    existing = next((p for p in (path, *path.parents) if p.exists()), path)
    try:
        owner = existing.stat().st_uid
    except OSError:
        return "check its permissions"
    if owner != os.getuid():
        return f"{existing} belongs to uid {owner}"
    return f"chmod u+rwx {existing}"
