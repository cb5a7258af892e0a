"""Measuring a talking face from its pictures alone, for tests and the avatar benchmark.

The jaw's opening is read off the frames, not taken from the renderer's own numbers: the
lower lip and chin are found by template matching against the still photo, and so is the
nose, and the opening is how much further the lip moved than the nose (head motion moves
both). Lip sync is the lag at which that opening best follows the speech's loudness. Identity is
SSIM against the photo, as it is and with the head's small shift undone.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["FaceMeter", "envelope", "face_ssim", "lag_ms", "tick_loudness"]


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


class FaceMeter:
    def __init__(self, still: np.ndarray, points: np.ndarray, search_px: int) -> None:
        """`still`: the frame at rest (H, W, 3); `points`: its 68 landmarks."""
        self._still = _gray(still)
        fw = float(points[16, 0] - points[0, 0])
        self._search = search_px
        lip = points[57]  # the lower lip's lowest point: from it down to the chin
        self._lip = self._box(lip[0] - 0.12 * fw, lip[1] - 1, lip[0] + 0.12 * fw, lip[1] + 0.1 * fw)
        nose = points[30:36].mean(axis=0)
        self._nose = self._box(nose[0] - 0.1 * fw, nose[1] - 0.12 * fw, nose[0] + 0.1 * fw, nose[1])

    @staticmethod
    def _box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        return round(x0), round(y0), round(x1), round(y1)

    def _moved(self, frame: np.ndarray, box: tuple[int, int, int, int]) -> tuple[float, float]:
        x0, y0, x1, y1 = box
        s = self._search
        template = self._still[y0:y1, x0:x1]
        area = frame[y0 - s : y1 + s, x0 - s : x1 + s]
        scores = cv2.matchTemplate(area, template, cv2.TM_CCOEFF_NORMED)
        _, _, _, (bx, by) = cv2.minMaxLoc(scores)

        def refine(a: float, b: float, c: float) -> float:
            d = a - 2 * b + c
            return 0.0 if abs(d) < 1e-9 else 0.5 * (a - c) / d

        fx = bx + (refine(*scores[by, bx - 1 : bx + 2]) if 0 < bx < scores.shape[1] - 1 else 0.0)
        fy = by + (refine(*scores[by - 1 : by + 2, bx]) if 0 < by < scores.shape[0] - 1 else 0.0)
        return fx - s, fy - s

    def jaw_px(self, rgb: np.ndarray) -> float:
        """How far the lower lip is below where the head's motion alone would put it."""
        frame = _gray(rgb)
        return self._moved(frame, self._lip)[1] - self._moved(frame, self._nose)[1]


def face_ssim(still: np.ndarray, frame: np.ndarray, points: np.ndarray) -> tuple[float, float]:
    """SSIM of the face's box (the landmarks' bounds) against the photo: as drawn, and with
    the head's translation (phase correlation) undone first."""
    from skimage.metrics import structural_similarity

    (x0, y0), (x1, y1) = points.min(axis=0).astype(int), points.max(axis=0).astype(int)
    raw = structural_similarity(still[y0:y1, x0:x1], frame[y0:y1, x0:x1], channel_axis=2)
    (dx, dy), _ = cv2.phaseCorrelate(
        _gray(still[y0:y1, x0:x1]).astype(np.float64), _gray(frame[y0:y1, x0:x1]).astype(np.float64)
    )
    shift = np.array([[1, 0, -dx], [0, 1, -dy]], np.float32)
    back = cv2.warpAffine(frame, shift, (frame.shape[1], frame.shape[0]), flags=cv2.INTER_LINEAR)
    m = 4  # the warp's edge
    aligned = structural_similarity(
        still[y0 + m : y1 - m, x0 + m : x1 - m],
        back[y0 + m : y1 - m, x0 + m : x1 - m],
        channel_axis=2,
    )
    return float(raw), float(aligned)


def envelope(pcm: np.ndarray, rate: int, fps: int) -> np.ndarray:
    """Loudness per video frame (dB above -60, floored at 0) of 16-bit mono speech."""
    step = rate // fps
    frames = pcm[: len(pcm) // step * step].astype(np.float32).reshape(-1, step) / 32768.0
    db = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-6)
    return np.clip(db + 60.0, 0.0, None)


def tick_loudness(chunks: list[bytes], rate: int, fps: int) -> np.ndarray:
    """`envelope` of each tick's audio (a tick without audio is silence)."""
    step = rate // fps
    ticks = [np.frombuffer(c, np.int16)[:step] for c in chunks]
    pcm = np.concatenate([np.pad(t, (0, step - len(t))) for t in ticks])
    return envelope(pcm, rate, fps)


def lag_ms(loudness: np.ndarray, opening: np.ndarray, fps: int, max_frames: int = 6) -> float:
    """The delay of `opening` behind `loudness` that correlates best (sub-frame), in ms."""
    a = (loudness - loudness.mean()) / (loudness.std() + 1e-9)
    b = (opening - opening.mean()) / (opening.std() + 1e-9)
    n = min(len(a), len(b))
    lags = list(range(-max_frames, max_frames + 1))
    scores = []
    for lag in lags:
        if lag >= 0:
            x, y = a[: n - lag], b[lag:n]
        else:
            x, y = a[-lag:n], b[: n + lag]
        scores.append(float(np.mean(x * y)))
    i = int(np.argmax(scores))
    shift = 0.0
    if 0 < i < len(scores) - 1:
        p, q, r = scores[i - 1 : i + 2]
        d = p - 2 * q + r
        shift = 0.0 if abs(d) < 1e-12 else 0.5 * (p - r) / d
    return (lags[i] + shift) * 1000.0 / fps
