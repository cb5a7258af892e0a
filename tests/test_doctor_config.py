"""`doctor` and `config` as a newcomer runs them: subprocesses, real loopback servers."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localagent.models.hardware import detect, recommend
from localagent.settings import Settings
from localagent.testing.cli import free_port, run_cli
from localagent.testing.fake_ollama import ThreadedFakeOllama
from localagent.testing.mock_tavus import ThreadedMockTavus

SETTING = re.compile(r"^# [a-z_]+ = ")


def _run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"LOCALAGENT_DATA_DIR": str(cwd / "data"), **env}, cwd=cwd)


def doctor(env: dict[str, str], cwd: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    result = _run("doctor", "--json", env=env, cwd=cwd)
    report = json.loads(result.stdout)
    assert report["ok"] == (result.returncode == 0)
    return result.returncode, {c["name"]: c for c in report["checks"]}


@pytest.fixture
def tavus() -> Iterator[ThreadedMockTavus]:
    with ThreadedMockTavus(api_key="good-key-123") as mock:
        yield mock


def test_doctor_passes_on_a_working_setup(
    fake_ollama: ThreadedFakeOllama, tavus: ThreadedMockTavus, tmp_path: Path
) -> None:
    env = {
        "OLLAMA_HOST": fake_ollama.url,
        "LOCALAGENT_PORT": str(free_port()),
        "TAVUS_API_KEY": "good-key-123",
        "TAVUS_REPLICA_ID": "r-test-replica",
        "TAVUS_API_URL": tavus.url,
    }
    code, checks = doctor(env, tmp_path)
    assert code == 0, checks
    assert checks["Ollama"]["status"] == "ok"
    assert checks["tool calling"]["status"] == "ok"
    assert checks["whisper model"]["detail"].startswith("tiny.en from package")
    assert checks["Tavus"]["status"] == "ok" and "Mock replica" in checks["Tavus"]["detail"]
    assert checks["port"]["status"] == "ok"
    # the key itself is never printed
    assert "good-key-123" not in json.dumps(checks)


def test_doctor_names_each_problem_and_its_fix(tavus: ThreadedMockTavus, tmp_path: Path) -> None:
    busy = socket.create_server(("127.0.0.1", 0))
    broken = tmp_path / "data"
    broken.mkdir()
    (broken / "sessions.sqlite3").write_bytes(b"not a database " * 100)
    with busy, ThreadedFakeOllama(models=("llama3.2:3b",), tools=False) as no_tools:
        env = {
            "LOCALAGENT_DATA_DIR": str(broken),
            "OLLAMA_HOST": no_tools.url,
            "LOCALAGENT_PORT": str(busy.getsockname()[1]),
            "LOCALAGENT_WHISPER_MODEL": "medium.en",
            "TAVUS_API_KEY": "wrong-key-456",
            "TAVUS_REPLICA_ID": "r-test-replica",
            "TAVUS_API_URL": tavus.url,
        }
        code, checks = doctor(env, tmp_path)
    assert code == 1
    assert checks["tool calling"]["status"] == "error"
    suggested = recommend(detect()).llm  # no installed model takes tools: this machine's pick
    assert f"ollama pull {suggested}" in checks["tool calling"]["fix"]
    assert checks["whisper model"]["status"] == "error"
    assert "medium.en" in checks["whisper model"]["detail"]
    assert checks["port"]["status"] == "error" and "already in use" in checks["port"]["detail"]
    assert checks["data dir"]["status"] == "error" and "unusable" in checks["data dir"]["detail"]
    assert "mv " in checks["data dir"]["fix"]
    assert checks["Tavus"] == {
        "name": "Tavus",
        "status": "error",
        "detail": "the API key was rejected (401)",
        "fix": "check TAVUS_API_KEY (Tavus dashboard > API keys)",
    }


def test_doctor_ollama_down_and_model_missing(tmp_path: Path) -> None:
    env = {"OLLAMA_HOST": f"http://127.0.0.1:{free_port()}", "LOCALAGENT_PORT": "0"}
    code, checks = doctor(env, tmp_path)
    assert code == 1
    assert "ollama serve" in checks["Ollama"]["fix"]
    assert checks["Tavus"]["status"] == "skip"
    with ThreadedFakeOllama(models=("qwen2.5:0.5b",)) as other:
        code, checks = doctor({"OLLAMA_HOST": other.url, "LOCALAGENT_PORT": "0"}, tmp_path)
    assert code == 1
    assert checks["LLM model"]["fix"] == "ollama pull llama3.2:3b"


def test_doctor_table_for_people(fake_ollama: ThreadedFakeOllama, tmp_path: Path) -> None:
    result = _run(
        "doctor", env={"OLLAMA_HOST": fake_ollama.url, "LOCALAGENT_PORT": "0"}, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 error(s)" in result.stdout and "Ready to run." in result.stdout
    assert "ᓚᘏᗢ" not in result.stderr  # pipecat's import-time banner stays out of the report


def test_config_shows_each_source_and_hides_the_key(tmp_path: Path) -> None:
    (tmp_path / "localagent.toml").write_text('llm_model = "qwen2.5:3b"\nport = 7999\n')
    (tmp_path / ".env").write_text("LOCALAGENT_FLOW=booking\n")
    env = {"LOCALAGENT_PORT": "7001", "TAVUS_API_KEY": "sk-very-secret-789"}
    result = _run("config", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows = {r["setting"]: r for r in report["settings"]}
    assert report["config_file"] == str(tmp_path / "localagent.toml")
    assert (rows["llm_model"]["value"], rows["llm_model"]["source"]) == (
        "qwen2.5:3b",
        f"{tmp_path / 'localagent.toml'} (llm_model)",
    )
    assert (rows["port"]["value"], rows["port"]["source"]) == (
        "7001",
        "environment LOCALAGENT_PORT",
    )
    assert (rows["flow"]["value"], rows["flow"]["source"]) == ("booking", ".env LOCALAGENT_FLOW")
    assert rows["tavus_api_key"] == {
        "setting": "tavus_api_key",
        "value": "[set, hidden]",
        "source": "environment TAVUS_API_KEY",
    }
    assert rows["host"]["source"] == "default"
    assert "sk-very-secret-789" not in result.stdout + result.stderr


def test_config_example_is_valid_and_typos_are_caught(tmp_path: Path) -> None:
    example = _run("config", "--example", env={}, cwd=tmp_path).stdout
    # every setting is there, commented out; uncommented it is a valid file
    settings_lines = [line[2:] for line in example.splitlines() if SETTING.match(line)]
    assert len(settings_lines) == len(Settings.model_fields)
    uncommented = "\n".join(line for line in settings_lines if '= ""' not in line)
    (tmp_path / "localagent.toml").write_text(uncommented)
    assert _run("config", env={}, cwd=tmp_path).returncode == 0
    (tmp_path / "localagent.toml").write_text('ollama_hots = "http://x:1"\n')
    result = _run("--no-tui", env={}, cwd=tmp_path)
    assert result.returncode == 2
    assert "Unknown setting 'ollama_hots'" in result.stderr
    assert "did you mean 'ollama_host'?" in result.stderr
    (tmp_path / "localagent.toml").write_text("port = \n")
    result = _run("config", env={}, cwd=tmp_path)
    assert result.returncode == 2 and "is not valid TOML" in result.stderr
