from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from localagent.testing.app_process import AppProcess, run_app
from localagent.testing.fake_ollama import ThreadedFakeOllama
from localagent.testing.speech import synthesize


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
