"""Which photo the local avatar animates: `--avatar-image`, or one chosen on the page.

A photo chosen on the page is kept in the data dir (`avatar/portrait.<ext>`, with its
landmarks beside it) and never leaves the machine; it is used until another is chosen or
it is removed, and `--avatar-image` wins over it. A photo that cannot be used (unreadable,
no face, no landmark model) leaves the drawn face in place, and `problem` says why.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from loguru import logger
from PIL import Image, UnidentifiedImageError

from localagent.avatar.face import Face
from localagent.avatar.landmarks import FaceLandmarks, PortraitError, cache_path, load_portrait
from localagent.avatar.portrait import Portrait
from localagent.web.guard import UPLOADS

__all__ = ["MAX_UPLOAD_BYTES", "LoadedPortrait", "Portraits"]

MAX_UPLOAD_BYTES = UPLOADS["/api/avatar-image"][0]
_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}


@dataclass(frozen=True)
class LoadedPortrait:
    path: Path
    photo: np.ndarray
    landmarks: FaceLandmarks
    chosen_on_page: bool


class Portraits:
    def __init__(self, data_dir: Path, configured: Path | None) -> None:
        self._dir = data_dir / "avatar"
        self._configured = configured
        self.current: LoadedPortrait | None = None
        self.problem: PortraitError | None = None  # why a configured photo is not shown
        self._poster: tuple[tuple[Path | None, int, int], bytes] | None = None

    def load(self) -> None:
        """The configured photo, else the one last chosen on the page, else none."""
        if self._configured is not None:
            self._use(self._configured, chosen_on_page=False)
        elif (uploaded := self._uploaded()) is not None:
            self._use(uploaded, chosen_on_page=True)

    def face(self, width: int, height: int) -> Portrait | None:
        """A fresh portrait face for one call (each call animates its own)."""
        if self.current is None:
            return None
        return Portrait(self.current.photo, self.current.landmarks, width, height)

    def choose(self, data: bytes) -> LoadedPortrait:
        """Keep a photo sent by the page and use it from the next call on.

        PortraitError (and the photo in use unchanged) when it cannot be a portrait.
        """
        if len(data) > MAX_UPLOAD_BYTES:
            raise PortraitError(
                f"The photo is {len(data) // 1_000_000} MB; at most "
                f"{MAX_UPLOAD_BYTES // 1_000_000} MB is taken.",
                "send a smaller JPEG or PNG",
            )
        try:
            with Image.open(io.BytesIO(data)) as im:
                kind = im.format or ""
        except (UnidentifiedImageError, OSError):
            raise PortraitError(
                "That file is not a picture.", "choose a JPEG, PNG or WebP photo"
            ) from None
        if kind not in _FORMATS:
            raise PortraitError(
                f"{kind or 'That'} pictures are not taken.", "choose a JPEG, PNG or WebP photo"
            )
        self._dir.mkdir(parents=True, exist_ok=True)
        trial = self._dir / f"incoming{_FORMATS[kind]}"
        trial.write_bytes(data)
        try:
            photo, landmarks = load_portrait(trial)
        except PortraitError:
            trial.unlink(missing_ok=True)
            cache_path(trial).unlink(missing_ok=True)
            raise
        for old in self._dir.glob("portrait.*"):
            old.unlink()
        final = self._dir / f"portrait{_FORMATS[kind]}"
        trial.rename(final)
        cache_path(trial).rename(cache_path(final))
        self.current = LoadedPortrait(final, photo, landmarks, chosen_on_page=True)
        self.problem = None
        logger.info(f"avatar: the photo chosen on the page is kept at {final}")
        return self.current

    def forget(self) -> None:
        """Back to the configured photo, or the drawn face: the page's photo is deleted."""
        for old in self._dir.glob("portrait.*"):
            old.unlink()
        self.current, self.problem = None, None
        if self._configured is not None:
            self._use(self._configured, chosen_on_page=False)

    def poster(self, width: int, height: int) -> bytes:
        """The avatar at rest as a JPEG: what the page shows before and after a call."""
        key = (self.current.path if self.current else None, width, height)
        if self._poster is not None and self._poster[0] == key:
            return self._poster[1]
        face = self.face(width, height)
        if face is not None:
            rest = face.frame
        else:
            drawn = Face(width, height).render(0.0, 0.0, 0, 0)
            rest = np.frombuffer(drawn, np.uint8).reshape(height, width, 3)
        out = io.BytesIO()
        Image.fromarray(rest).save(out, "JPEG", quality=85)
        self._poster = key, out.getvalue()
        return self._poster[1]

    def describe(self) -> dict[str, object]:
        if self.current is None:
            if self.problem is None:
                return {"face": "drawn", "problem": None}
            return {"face": "drawn", "problem": self.problem.message, "fix": self.problem.fix}
        return {
            "face": "portrait",
            "image": self.current.path.name,
            "chosen_on_page": self.current.chosen_on_page,
            "problem": None,
        }

    def _uploaded(self) -> Path | None:
        found = sorted(p for p in self._dir.glob("portrait.*") if not p.name.endswith(".json"))
        return found[0] if found else None

    def _use(self, path: Path, *, chosen_on_page: bool) -> None:
        try:
            photo, landmarks = load_portrait(path, fallback_cache_dir=self._dir / "landmarks")
        except PortraitError as e:
            self.current, self.problem = None, e
            logger.warning(f"avatar: the drawn face stands in: {e.message} fix: {e.fix}")
            return
        self.current = LoadedPortrait(path, photo, landmarks, chosen_on_page)
        self.problem = None
        logger.info(f"avatar: animating the portrait {path}")
