"""Which whisper model and LLM suit this machine, and `--whisper-model auto`.

The recommendation is a rule of thumb by compute (CUDA GPU memory, else CPU cores), aimed
at a voice agent's budget: a final transcript well under half a second after the caller
stops, and an LLM whose first token comes in about as long. The tiers follow the models'
published sizes and speeds (what was measured here: docs/benchmarks.md). `auto` takes the
largest installed model that is not above the recommendation (English-only ones first):
never a download.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Hardware", "Recommendation", "detect", "pick_whisper", "recommend"]

# Largest first: the order `auto` walks down from the recommendation.
WHISPER_LADDER = ("large-v3", "medium.en", "small.en", "base.en", "tiny.en")
_MULTILINGUAL = {"medium.en": "medium", "small.en": "small", "base.en": "base", "tiny.en": "tiny"}


@dataclass(frozen=True)
class Hardware:
    cpu_cores: int
    memory_gib: float
    gpus: int  # CUDA devices CTranslate2 can use
    gpu_name: str = ""
    gpu_memory_gib: float = 0.0  # of the first GPU, 0 when unknown

    def describe(self) -> str:
        text = f"{self.cpu_cores} CPU cores, {self.memory_gib:.0f} GiB memory"
        if self.gpus:
            memory = f", {self.gpu_memory_gib:.0f} GiB" if self.gpu_memory_gib else ""
            text += f"; {self.gpus} CUDA GPU(s): {self.gpu_name or 'unknown'}{memory}"
        else:
            text += "; no CUDA GPU"
        return text


@dataclass(frozen=True)
class Recommendation:
    whisper: str
    llm: str  # an Ollama model tag
    why: str


def _gpu_facts() -> tuple[str, float]:
    """The first GPU's name and memory, from nvidia-smi when it is there."""
    if shutil.which("nvidia-smi") is None:
        return "", 0.0
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.splitlines()[0]
        name, mib = (part.strip() for part in out.rsplit(",", 1))
        return name, float(mib) / 1024
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return "", 0.0


def detect() -> Hardware:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        memory = 0.0
    gpus = 0
    try:
        import ctranslate2

        gpus = ctranslate2.get_cuda_device_count()
    except Exception:  # no CTranslate2, or a broken CUDA install: the CPU it is
        gpus = 0
    name, gpu_memory = _gpu_facts() if gpus else ("", 0.0)
    return Hardware(cores or 1, memory, gpus, name, gpu_memory)


def recommend(hw: Hardware) -> Recommendation:
    if hw.gpus:
        memory = hw.gpu_memory_gib or 8.0  # unknown: assume a common 8 GiB card
        if memory >= 20:
            return Recommendation(
                "large-v3", "llama3.1:8b", f"CUDA, {memory:.0f} GiB: both fit, with room"
            )
        if memory >= 10:
            return Recommendation(
                "medium.en", "llama3.1:8b", f"CUDA, {memory:.0f} GiB: an 8B model at Q4 beside it"
            )
        if memory >= 5:
            return Recommendation(
                "small.en", "llama3.2:3b", f"CUDA, {memory:.0f} GiB: a 3B model beside it"
            )
        return Recommendation("base.en", "llama3.2:1b", f"CUDA, {memory:.0f} GiB: small models")
    if hw.cpu_cores >= 8:
        return Recommendation(
            "base.en", "llama3.2:3b", f"CPU only, {hw.cpu_cores} cores: base.en stays real-time"
        )
    return Recommendation(
        "tiny.en", "llama3.2:1b", f"CPU only, {hw.cpu_cores} cores: the smallest models"
    )


def pick_whisper(
    hw: Hardware, installed: Callable[[str], Path | None]
) -> tuple[str, Recommendation] | None:
    """The largest installed whisper model not above the recommendation, or None.

    `installed(name)` is where the model is, or None; English-only names are tried before
    their multilingual twins (the agent speaks English)."""
    advice = recommend(hw)
    start = WHISPER_LADDER.index(advice.whisper)
    for name in WHISPER_LADDER[start:]:
        for candidate in (name, _MULTILINGUAL.get(name)):
            if candidate and installed(candidate) is not None:
                return candidate, advice
    return None
