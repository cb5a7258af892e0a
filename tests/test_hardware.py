"""Models for the hardware: the recommendation, `--whisper-model auto`, doctor and models list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from localagent.commands.model_checks import check_hardware
from localagent.models import hardware as hw_module
from localagent.models.hardware import Hardware, pick_whisper, recommend
from localagent.models.resolve import resolve_whisper_model
from localagent.settings import Settings

CPU2 = Hardware(cpu_cores=2, memory_gib=24, gpus=0)
CPU16 = Hardware(cpu_cores=16, memory_gib=64, gpus=0)
GPU6 = Hardware(cpu_cores=8, memory_gib=32, gpus=1, gpu_name="RTX 3060", gpu_memory_gib=6)
GPU12 = Hardware(cpu_cores=8, memory_gib=32, gpus=1, gpu_name="RTX 4070", gpu_memory_gib=12)
H200 = Hardware(cpu_cores=16, memory_gib=128, gpus=1, gpu_name="NVIDIA H200", gpu_memory_gib=140)


def test_the_recommendation_follows_the_compute() -> None:
    got = {
        h.describe(): (recommend(h).whisper, recommend(h).llm)
        for h in (CPU2, CPU16, GPU6, GPU12, H200)
    }
    assert list(got.values()) == [
        ("tiny.en", "llama3.2:1b"),
        ("base.en", "llama3.2:3b"),
        ("small.en", "llama3.2:3b"),
        ("medium.en", "llama3.1:8b"),
        ("large-v3", "llama3.1:8b"),
    ]
    assert "CUDA GPU(s): NVIDIA H200, 140 GiB" in H200.describe()


def test_auto_takes_the_largest_installed_not_above_the_recommendation() -> None:
    def having(*names: str):  # type: ignore[no-untyped-def]
        return lambda name: Path(name) if name in names else None

    assert pick_whisper(GPU6, having("tiny.en", "base.en", "large-v3"))[0] == "base.en"  # type: ignore[index]
    assert pick_whisper(GPU6, having("small", "small.en"))[0] == "small.en"  # type: ignore[index]
    assert pick_whisper(GPU6, having("small"))[0] == "small"  # type: ignore[index]
    assert pick_whisper(CPU2, having("large-v3")) is None  # never above what suits it
    assert pick_whisper(H200, having("tiny.en"))[0] == "tiny.en"  # type: ignore[index]


def test_auto_resolves_on_disk_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hw_module, "detect", lambda: GPU12)
    (tmp_path / "small.en").mkdir()
    (tmp_path / "small.en" / "model.bin").write_bytes(b"")
    found = resolve_whisper_model("auto", tmp_path)
    assert found.name == "small.en" and found.path == tmp_path / "small.en"
    assert "auto for 8 CPU cores" in found.source and "medium.en would suit it" in found.source


def test_doctor_warns_of_a_whisper_too_large_for_the_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hw_module, "detect", lambda: CPU2)
    checks = check_hardware(Settings(whisper_model="medium.en"))
    assert checks[0].name == "hardware" and "suits whisper tiny.en" in checks[0].detail
    assert checks[1].status == "warn" and "--whisper-model tiny.en" in checks[1].fix
    assert len(check_hardware(Settings(whisper_model="tiny.en"))) == 1


def test_the_commands_say_it_for_this_machine(tmp_path: Path) -> None:
    env = {**os.environ, "LOCALAGENT_DATA_DIR": str(tmp_path), "LOCALAGENT_WHISPER_MODEL": "auto"}
    listing = subprocess.run(
        [sys.executable, "-m", "localagent", "models", "list", "--json"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    suits = json.loads(listing)["for_this_machine"]
    assert suits["whisper"] and suits["llm"] and suits["auto_picks"] == "tiny.en"  # installed
    doctor = subprocess.run(
        [sys.executable, "-m", "localagent", "doctor", "--json"],
        env=env, capture_output=True, text=True,
    ).stdout  # fmt: skip
    checks = {c["name"]: c for c in json.loads(doctor)["checks"]}
    assert checks["hardware"]["status"] == "info"
    assert (
        checks["whisper model"]["status"] == "ok"
        and "auto for" in checks["whisper model"]["detail"]
    )
