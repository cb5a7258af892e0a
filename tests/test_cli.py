"""One command line: every command listed, a misspelt one corrected, and a bad setting
reported the same way (one line, exit status 2) by all of them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from localagent.cli import COMMANDS
from localagent.testing.cli import run_cli


def test_help_lists_every_command() -> None:
    done = run_cli("--help")
    assert done.returncode == 0, done.stderr
    for command in COMMANDS:
        assert command in done.stdout
    assert "--max-sessions" in done.stdout  # and the app's own flags


def test_a_misspelt_command_suggests_the_right_one() -> None:
    done = run_cli("docter")
    assert done.returncode == 2
    assert "unknown command 'docter': did you mean 'doctor'?" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--no-tui",),
        ("doctor",),
        ("config",),
        ("sessions", "list"),
        ("flows", "check"),
        ("models", "list"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(args: tuple[str, ...]) -> None:
    done = run_cli(*args, env={"LOCALAGENT_PORT": "abc"})
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "port = 'abc' from environment LOCALAGENT_PORT" in lines[0]
    assert "fix:" in lines[0]


def test_a_bad_flag_value_names_the_flag() -> None:
    done = run_cli("--no-tui", "--whisper-window-s", "2")
    assert done.returncode == 2
    assert "whisper_window_s = 2.0 from flag --whisper-window-s" in done.stderr


def test_output_cut_short_by_a_pipe_is_no_traceback() -> None:
    """`python -m localagent config | head -1`: here the reader is gone before the first
    byte, so the write fails for certain (a real `head` races the writer)."""
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "localagent", "config", "--example"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


@pytest.mark.parametrize("args", [("--no-tui",), ("sessions", "list")])
def test_an_unusable_data_dir_is_one_line_before_anything_loads(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    corrupt = tmp_path / "data"
    corrupt.mkdir()
    (corrupt / "sessions.sqlite3").write_bytes(b"not a database " * 200)
    done = run_cli(*args, env={"LOCALAGENT_DATA_DIR": str(corrupt), "LOCALAGENT_PORT": "0"})
    assert done.returncode == 2, (done.stdout, done.stderr)
    errors = [line for line in done.stderr.splitlines() if line.startswith("localagent:")]
    assert len(errors) == 1 and "sessions database" in errors[0] and "fix:" in errors[0]
    assert "Traceback" not in done.stderr and "loading models" not in done.stderr
