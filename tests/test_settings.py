"""Settings: defaults, environment names users know, `.env`, and CLI flags on top."""

from __future__ import annotations

from pathlib import Path

import pytest

from localagent.cli import build_parser, settings_from
from localagent.errors import ConfigError
from localagent.settings import Settings


def test_defaults_are_local_and_safe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("OLLAMA_HOST", "TAVUS_API_KEY", "TAVUS_REPLICA_ID"):
        monkeypatch.delenv(name, raising=False)
    s = Settings()
    assert (s.host, s.port) == ("127.0.0.1", 7860)
    assert s.ollama_host == "http://127.0.0.1:11434"
    assert s.tavus_api_url == "https://tavusapi.com/v2"
    assert not s.wants_tavus()


def test_env_dotenv_and_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("LOCALAGENT_LLM_MODEL=qwen2.5:7b\nTAVUS_REPLICA_ID=r123\n")
    monkeypatch.setenv("OLLAMA_HOST", "http://10.0.0.5:11434")
    monkeypatch.setenv("TAVUS_API_KEY", "sk-secret")
    s = Settings()
    assert s.llm_model == "qwen2.5:7b" and s.ollama_host == "http://10.0.0.5:11434"
    assert s.wants_tavus() and "sk-secret" not in repr(s)
    args = build_parser().parse_args(["--llm-model", "llama3.1:8b", "--avatar", "local"])
    s2 = settings_from(args)
    assert s2.llm_model == "llama3.1:8b" and not s2.wants_tavus()
    assert s2.ollama_host == "http://10.0.0.5:11434"  # untouched by flags


def test_tavus_without_key_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TAVUS_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="needs TAVUS_API_KEY"):
        settings_from(build_parser().parse_args(["--avatar", "tavus"]))
    with pytest.raises(ConfigError, match="port"):
        settings_from(build_parser().parse_args(["--port", "99999"]))


def test_statement_wait_flag_is_bounded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    s = settings_from(build_parser().parse_args(["--statement-wait-s", "0.5"]))
    assert s.statement_wait_s == 0.5
    for bad in ("0.1", "2"):  # under a VAD window's worth; over the adaptive wait's ceiling
        with pytest.raises(ConfigError, match="statement_wait_s"):
            settings_from(build_parser().parse_args(["--statement-wait-s", bad]))
