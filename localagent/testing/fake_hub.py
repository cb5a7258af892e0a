"""A Hugging Face-like model hub on loopback, for testing `python -m localagent models pull`.

It serves `/{repo}/resolve/{revision}/{path}` from memory the way huggingface.co does where
the client can tell: byte ranges (206 with Content-Range, 416 past the end), and checksum
headers (`ETag` and `X-Linked-Etag` = sha256 for "LFS" files, `ETag` = git blob sha1 for the
rest). It skips the redirect to a CDN. Every request is recorded, and faults can be
scripted per file: corrupted bytes, a connection cut after N bytes, or an error status.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from localagent.testing.in_thread import InThread
from localagent.testing.loopback import LoopbackServer

__all__ = ["FakeHub", "HubFile", "HubRequest", "ThreadedFakeHub"]


@dataclass(frozen=True)
class HubFile:
    data: bytes
    lfs: bool = True  # LFS files carry a sha256 ETag; others a git blob sha1

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def git_sha1(self) -> str:
        return hashlib.sha1(b"blob %d\0" % len(self.data) + self.data).hexdigest()

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.git_sha1


@dataclass(frozen=True)
class HubRequest:
    method: str
    key: str  # "repo/revision/path"
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def range(self) -> str | None:
        return self.headers.get("Range")


def file_key(repo: str, path: str, revision: str = "main") -> str:
    return f"{repo}/{revision}/{path}"


class FakeHub(LoopbackServer):
    """A real aiohttp server; use as `async with FakeHub() as hub` or via ThreadedFakeHub."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.files: dict[str, HubFile] = {}
        self.requests: list[HubRequest] = []
        self.ranges = True  # False: ignore Range and always send the whole file (200)
        self._corrupt: set[str] = set()
        self._cuts: dict[str, tuple[int, int, int | None]] = {}  # key -> (after, times, then)
        self._statuses: dict[str, int] = {}
        super().__init__(host, port)

    # -- lifecycle ---------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tail:.+}", self._resolve)  # HEAD too
        return app

    # -- content and faults ------------------------------------------------------------------

    def add(
        self, repo: str, path: str, data: bytes, *, revision: str = "main", lfs: bool = True
    ) -> str:
        key = file_key(repo, path, revision)
        self.files[key] = HubFile(data, lfs)
        return key

    def corrupt(self, key: str) -> None:
        """Serve `key` with one byte flipped, under the checksum of the right content."""
        self._corrupt.add(key)

    def cut_after(
        self, key: str, n_bytes: int, times: int = 1, *, then_status: int | None = None
    ) -> None:
        """Close the connection after `n_bytes` of the body, on the next `times` requests;
        then answer `then_status` (a hub that went down mid-download) until `recover`."""
        self._cuts[key] = (n_bytes, times, then_status)

    def recover(self, key: str) -> None:
        self._statuses.pop(key, None)

    def fail(self, key: str, status: int) -> None:
        """Answer `status` (e.g. 404, 500) for `key` from now on."""
        self._statuses[key] = status

    def requests_for(self, key: str) -> list[HubRequest]:
        return [r for r in self.requests if r.key == key]

    # -- handler -----------------------------------------------------------------------------

    async def _resolve(self, request: web.Request) -> web.StreamResponse:
        raw = request.raw_path.partition("?")[0].lstrip("/")
        repo, found, rest = raw.partition("/resolve/")
        revision, _, path = rest.partition("/")
        key = file_key(unquote(repo), unquote(path), unquote(revision))
        self.requests.append(HubRequest(request.method, key, dict(request.headers)))
        if key in self._statuses:
            status = self._statuses[key]
            return web.Response(status=status, text=f"scripted {status} for {key}")
        hub_file = self.files.get(key) if found else None
        if hub_file is None:
            return web.Response(
                status=404, text="Entry not found", headers={"X-Error-Code": "EntryNotFound"}
            )
        data = hub_file.data
        if key in self._corrupt:
            flipped = bytearray(data)
            flipped[len(flipped) // 2] ^= 0xFF
            data = bytes(flipped)
        headers = {
            "ETag": f'"{hub_file.etag}"',
            "Accept-Ranges": "bytes",
            "X-Repo-Commit": "0" * 40,  # the commit the revision resolved to, as the hub says
        }
        if hub_file.lfs:
            headers["X-Linked-Etag"] = f'"{hub_file.sha256}"'
            headers["X-Linked-Size"] = str(len(data))
        status, start = 200, 0
        wanted = request.headers.get("Range", "")
        if self.ranges and wanted.startswith("bytes="):
            first, _, last = wanted.removeprefix("bytes=").partition("-")
            start = int(first or 0)
            end = min(int(last), len(data) - 1) if last else len(data) - 1
            if start >= len(data):
                headers["Content-Range"] = f"bytes */{len(data)}"
                return web.Response(status=416, headers=headers)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data = data[start : end + 1]
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(data))
            return web.Response(status=status, headers=headers)
        cut = self._cuts.get(key)
        if cut is None:
            return web.Response(status=status, body=data, headers=headers)
        after, times, then_status = cut
        if times <= 1:
            del self._cuts[key]
            if then_status is not None:
                self._statuses[key] = then_status
        else:
            self._cuts[key] = (after, times - 1, then_status)
        return await self._cut(request, status, headers, data, after)

    async def _cut(
        self, request: web.Request, status: int, headers: dict[str, str], data: bytes, after: int
    ) -> web.StreamResponse:
        """Promise the whole body, send `after` bytes of it, then hang up."""
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = len(data)
        await response.prepare(request)
        await response.write(data[:after])
        assert request.transport is not None
        request.transport.close()  # flushes what was written, then closes: a short body
        return response


class ThreadedFakeHub(InThread[FakeHub]):
    """A FakeHub on its own event loop in a thread, for sync code such as `models_main`.

    Use as a context manager; `server` is the FakeHub (add files and faults to it).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(lambda: FakeHub(**kwargs))
