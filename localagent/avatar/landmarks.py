"""Where the face is in a portrait photo: 68 landmarks, found once and cached beside it.

The points are dlib's 68-point layout (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, lips
48-67), from dlib's HOG face detector and shape predictor. Both ship in registry packages
(`dlib-bin`, and `face_recognition_models` for the predictor's weights), the optional
`portrait` extra, so nothing is downloaded at run time. Finding them takes about a second;
the result is kept in `<photo>.landmarks.json`, keyed by the photo's hash, so a call starts
at once and a user can supply or correct the file by hand (without the extra installed).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from localagent.errors import ConfigError

__all__ = [
    "MIN_FACE_PX",
    "FaceLandmarks",
    "PortraitError",
    "find_landmarks",
    "landmarker_missing",
    "load_portrait",
]

MIN_FACE_PX = 64  # narrower faces have too few pixels for a mouth to move
MAX_SIDE_PX = 2048  # bigger photos are scaled down once: the frame is at most 1080p
_EXTRA = "pip install -e '.[portrait]'"
_VERSION = 1


class PortraitError(ConfigError):
    """The photo cannot be a portrait avatar; the message says why and what to do."""


@dataclass(frozen=True)
class FaceLandmarks:
    points: np.ndarray  # (68, 2) float, pixels of the (possibly scaled) photo
    size: tuple[int, int]  # (width, height) of the photo they were found in

    @property
    def face_width(self) -> float:
        return float(self.points[16, 0] - self.points[0, 0])

    def to_json(self, digest: str) -> str:
        return json.dumps(
            {
                "version": _VERSION,
                "sha256": digest,
                "size": list(self.size),
                "points": [[round(float(x), 2), round(float(y), 2)] for x, y in self.points],
            }
        )

    @classmethod
    def from_json(cls, text: str, digest: str | None = None) -> FaceLandmarks | None:
        """None when the file is for another photo or another layout."""
        try:
            data = json.loads(text)
            points = np.asarray(data["points"], dtype=np.float64)
            size = (int(data["size"][0]), int(data["size"][1]))
        except (ValueError, KeyError, TypeError, IndexError):
            return None
        if data.get("version") != _VERSION or points.shape != (68, 2):
            return None
        if digest is not None and data.get("sha256") not in (None, digest):
            return None
        return cls(points, size)


def landmarker_missing() -> str | None:
    """What is missing to find landmarks in a new photo, or None when nothing is."""
    try:
        import dlib  # noqa: F401
        import face_recognition_models  # noqa: F401
    except ImportError as e:
        return f"{e.name} is not installed ({_EXTRA})"
    return None


def find_landmarks(rgb: np.ndarray) -> FaceLandmarks:
    """The largest frontal face's landmarks; PortraitError when there is none to use."""
    missing = landmarker_missing()
    if missing:
        raise PortraitError(
            f"Cannot find the face in a new photo: {missing}.",
            f"run {_EXTRA}, or put a landmarks file beside the photo",
        )
    import dlib
    import face_recognition_models

    detector = dlib.get_frontal_face_detector()
    boxes, scores, _ = detector.run(rgb, 1, 0.0)
    if not boxes:
        raise PortraitError(
            "No frontal face was found in the photo.",
            "use a photo that looks into the camera, face unobstructed and well lit",
        )
    box = max(zip(boxes, scores, strict=True), key=lambda b: b[0].area() * (1 + b[1]))[0]
    if box.width() < MIN_FACE_PX:
        raise PortraitError(
            f"The face in the photo is only {box.width()} px wide.",
            f"use a photo where the face is at least {MIN_FACE_PX} px wide",
        )
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    shape = predictor(rgb, box)
    points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    height, width = rgb.shape[:2]
    return FaceLandmarks(points, (width, height))


def _read_photo(path: Path) -> tuple[np.ndarray, bytes]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise PortraitError(
            f"The avatar photo {path} cannot be read ({e.strerror or type(e).__name__}).",
            "check the path given to --avatar-image",
        ) from None
    try:
        with Image.open(path) as im:
            im.load()
            rgb = im.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError):
        raise PortraitError(
            f"{path} is not a picture this can read.", "use a JPEG, PNG or WebP photo"
        ) from None
    if max(rgb.size) > MAX_SIDE_PX:
        rgb.thumbnail((MAX_SIDE_PX, MAX_SIDE_PX), Image.Resampling.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8), raw


def cache_path(photo: Path) -> Path:
    return photo.with_name(photo.name + ".landmarks.json")


def load_portrait(
    path: Path, fallback_cache_dir: Path | None = None
) -> tuple[np.ndarray, FaceLandmarks]:
    """The photo (RGB) and its landmarks, from the cache when it is this photo's."""
    rgb, raw = _read_photo(path)
    digest = hashlib.sha256(raw).hexdigest()
    places = [cache_path(path)]
    if fallback_cache_dir is not None:
        places.append(fallback_cache_dir / f"{digest[:16]}.landmarks.json")
    for place in places:
        try:
            cached = FaceLandmarks.from_json(place.read_text(), digest)
        except OSError:
            continue
        if cached is not None and cached.size == (rgb.shape[1], rgb.shape[0]):
            return rgb, cached
    landmarks = find_landmarks(rgb)
    for place in places:  # beside the photo if that can be written, else the data dir
        try:
            place.parent.mkdir(parents=True, exist_ok=True)
            place.write_text(landmarks.to_json(digest))
            break
        except OSError:
            continue
    return rgb, landmarks
