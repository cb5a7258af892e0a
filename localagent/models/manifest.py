"""What the packaged model manifest says: the known models, their hub files and checksums.

`manifest.json` (shipped in this package) lists every whisper model and Piper voice that
`python -m localagent models` can install. This module reads it into typed entries and knows
where each entry's files go; it does no network or file-system work beyond reading the manifest.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from localagent.errors import LocalAgentError, ModelNotFoundError

__all__ = [
    "ManifestError",
    "ModelEntry",
    "ModelFile",
    "PackageRef",
    "find_entry",
    "load_manifest",
]


class ManifestError(LocalAgentError):
    pass


@dataclass(frozen=True)
class ModelFile:
    path: str  # inside the hub repo
    sha256: str | None
    size: int | None

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


@dataclass(frozen=True)
class PackageRef:
    """An offline pip package carrying the model; `function()` returns its folder or file."""

    module: str
    dist: str
    function: str


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: Literal["whisper", "piper"]
    size_mb: float
    license: str | None
    repo: str
    revision: str
    files: tuple[ModelFile, ...]
    package: PackageRef | None = None
    checksums_from: str | None = None

    def install_dir(self, models_dir: Path) -> Path:
        return models_dir / self.name if self.kind == "whisper" else models_dir

    def dest(self, file: ModelFile, models_dir: Path) -> Path:
        return self.install_dir(models_dir) / file.name

    def ordered_files(self) -> list[ModelFile]:
        """The file `models.py` keys on (model.bin, the .onnx) last, so a half-finished pull
        never resolves as a model."""
        marker = "model.bin" if self.kind == "whisper" else f"{self.name}.onnx"
        return sorted(self.files, key=lambda f: f.name == marker)


def _entry(raw: dict[str, Any]) -> ModelEntry:
    source = raw.get("source") or {}
    package = raw.get("package")
    kind = raw["kind"]
    if kind not in ("whisper", "piper"):
        raise ValueError(f"kind must be whisper or piper, not {kind!r}")
    return ModelEntry(
        name=str(raw["name"]),
        kind=kind,
        size_mb=float(raw.get("size_mb") or 0),
        license=raw.get("license"),
        repo=str(source["repo"]),
        revision=str(source.get("revision") or "main"),
        files=tuple(
            ModelFile(str(f["path"]), f.get("sha256"), f.get("size")) for f in raw["files"]
        ),
        package=PackageRef(**package) if package else None,
        checksums_from=raw.get("checksums_from"),
    )


def load_manifest(path: Path | None = None) -> dict[str, ModelEntry]:
    """The packaged manifest, or `path` (tests and private mirrors use their own)."""
    where = str(path) if path else "localagent/models/manifest.json"
    try:
        if path is None:
            text = resources.files("localagent.models").joinpath("manifest.json").read_text()
        else:
            text = Path(path).read_text()
        return {e.name: e for e in map(_entry, json.loads(text)["models"])}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ManifestError(
            f"cannot read the model manifest {where}: {type(e).__name__}: {e}",
            "fix the file (see localagent/models/manifest.json for the format)",
        ) from None


def find_entry(name: str, manifest: dict[str, ModelEntry]) -> ModelEntry:
    if name in manifest:
        return manifest[name]
    close = difflib.get_close_matches(name, list(manifest), n=4, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ModelNotFoundError(
        f"unknown model '{name}'{hint}",
        "run `python -m localagent models list` for the names the manifest knows",
    )
