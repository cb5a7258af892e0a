from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from localagent.testing.app_process import AppProcess, run_app
from localagent.testing.cli import OWN_ENV_PREFIXES
from localagent.testing.fake_ollama import ThreadedFakeOllama
from localagent.testing.speech import synthesize


def _clear_own_settings(mp: pytest.MonkeyPatch, data_dir: Path) -> None:
    for name in list(os.environ):
        if name.startswith(OWN_ENV_PREFIXES):
            mp.delenv(name)
    mp.setenv("LOCALAGENT_DATA_DIR", str(data_dir))
    mp.setenv("XDG_CONFIG_HOME", str(data_dir / "config"))  # no ~/.config/localagent.toml


@pytest.fixture(scope="session", autouse=True)
def _no_settings_of_the_developer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The servers a session shares start with none of the developer's LOCALAGENT_*,
    TAVUS_* or OLLAMA_HOST, and keep their state in a scratch data dir, not ~/.local."""
    with pytest.MonkeyPatch.context() as mp:
        _clear_own_settings(mp, tmp_path_factory.mktemp("session-data"))
        yield


@pytest.fixture(autouse=True)
def _own_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each test: its own data dir, and run from a scratch folder, so neither the developer's
    `.env` nor a `localagent.toml` in the checkout is read."""
    _clear_own_settings(monkeypatch, tmp_path_factory.mktemp("data"))
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(scope="session")
def fake_ollama() -> Iterator[ThreadedFakeOllama]:
    with ThreadedFakeOllama() as server:
        yield server


@pytest.fixture(scope="session")
def app(fake_ollama: ThreadedFakeOllama) -> Iterator[AppProcess]:
    """One localagent server for the session, talking to the fake Ollama.

    It allows two calls at once: tests follow each other faster than a hung-up call is torn
    down. The default of one is tested on its own server.
    """
    flags = ("--ollama-host", fake_ollama.url, "--avatar", "local", "--max-sessions", "2")
    with run_app(*flags) as proc:
        assert proc.url, f"localagent failed to start:\n{proc.output}"
        yield proc


@pytest.fixture(scope="session")
def printer_utterance() -> np.ndarray:
    # One sentence: a pause between two could end the turn early under smart-turn, and
    # the tests that use this script the LLM's replies turn by turn.
    return synthesize("My printer will not print anything.")


# What makes a test module slow: it starts the app (`run_app`, the `app` fixture), calls it
# in real time (`Caller`), drives a browser or a terminal, or serves a fake Tavus or Daily.
# Such modules are marked `slow` and left out of the quick tier (`scripts/test.sh --quick`).
SLOW_TOOLS = re.compile(
    r"\b(run_app|AppProcess|Caller|Terminal|chromium|launch_browser|ThreadedMockTavus|"
    r"FakeDaily)\b"
)


@functools.cache
def _slow_module(path: Path) -> bool:
    return bool(SLOW_TOOLS.search(path.read_text()))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _slow_module(Path(str(item.fspath))):
            item.add_marker(pytest.mark.slow)
