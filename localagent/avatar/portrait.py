"""A portrait photo that talks: each frame is the photo itself, warped by its landmarks.

Start-up frames the photo (head and shoulders, the face about a third of the frame high)
and builds, once, a displacement field per movement: the jaw dropping (lower lip and chin
down, the corners and the cheeks stretching), the lips spreading or rounding, each eyelid
closing at a few depths, the irises shifting, the brows rising, and the head turning and
nodding (at a quarter of the resolution: it is smooth). A frame adds the fields the pose
wants to one sampling grid over the head alone and remaps the photo through it once, so the
background and everything the head does not move stay the photo's own pixels. An open
mouth gets an inner mouth drawn between the lips: a dark cavity, upper teeth when the
photo shows none, a hint of tongue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from localagent.avatar.landmarks import FaceLandmarks
from localagent.avatar.pose import Pose

__all__ = ["Portrait"]

FACE_HEIGHT_SHARE = 0.30  # face width (jaw to jaw) as a share of the frame height
JAW_OPEN = 0.11  # lower lip drop at jaw=1, in face widths
SPREAD = 0.14  # mouth corners outward at spread=1, in mouth half-widths
BROW_RAISE = 0.035  # in face widths
GAZE_SHIFT = 0.09  # iris shift at gaze=1, in eye widths
BLINK_LEVELS = (0.0, 0.35, 0.7, 1.0)
_LOW = 4  # the head's field is built at 1/_LOW resolution
# The head moves as an ellipse (radii in face widths) that fades out to _HEAD_FADE times it.
_HEAD_RX, _HEAD_RY, _HEAD_FADE = 0.72, 0.98, 1.4
_CAVITY = np.array([52, 18, 22], np.float32)
_TONGUE = np.array([168, 84, 88], np.float32)
_TEETH = np.array([226, 222, 212], np.float32)


@dataclass
class _Field:
    """A movement's displacement (sampling offset per target pixel) for a unit amount."""

    y0: int
    x0: int
    du: np.ndarray
    dv: np.ndarray


def _curve(points: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """y of the polyline through `points` (sorted by x) at each of `xs`, flat beyond."""
    order = np.argsort(points[:, 0])
    return np.interp(xs, points[order, 0], points[order, 1])


def _smooth(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


class Portrait:
    def __init__(
        self, photo: np.ndarray, landmarks: FaceLandmarks, width: int, height: int
    ) -> None:
        self.width, self.height = width, height
        self.frame, pts = self._framed(photo, landmarks.points, width, height)
        self.points = pts  # the landmarks in frame pixels
        self.face_width = float(pts[16, 0] - pts[0, 0])
        fw = self.face_width
        center = (pts[36:48].mean(axis=0) + pts[48:68].mean(axis=0)) / 2
        head = center + np.array([0.0, -0.12 * fw])
        # The region the head's movements touch: all of their fall-off, so its edges are
        # the photo's own pixels and pasting it back leaves no seam.
        reach_x, reach_y = _HEAD_RX * _HEAD_FADE * fw + 2, _HEAD_RY * _HEAD_FADE * fw + 2
        x0, x1 = max(0, int(head[0] - reach_x)), min(width, int(head[0] + reach_x) + 1)
        y0, y1 = max(0, int(head[1] - reach_y)), min(height, int(head[1] + reach_y) + 1)
        y1 = max(y1, min(height, int(pts[8, 1] + 0.6 * fw)))  # the jaw's reach below the chin
        self.box = (x0, y0, x1, y1)
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        self._grid_x, self._grid_y = xs, ys
        self._head = self._head_fields(head)
        self._jaw = self._jaw_field()
        self._spread = self._spread_field()
        self._shut = self._shut_field()
        self._brow = self._brow_field()
        self._gaze = [self._gaze_field(pts[36:42]), self._gaze_field(pts[42:48])]
        self._blinks = [
            [self._blink_field(pts[36:42], pts[17:22], b) for b in BLINK_LEVELS],
            [self._blink_field(pts[42:48], pts[22:27], b) for b in BLINK_LEVELS],
        ]
        gap = float(np.mean(pts[[67, 66, 65], 1] - pts[[61, 62, 63], 1]))
        self._photo_shows_teeth = gap > 0.025 * fw
        self._out = self.frame.copy()
        self._last: tuple[Pose, bytes] | None = None

    # -- framing ---------------------------------------------------------------------------

    @staticmethod
    def _framed(
        photo: np.ndarray, points: np.ndarray, width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Head and shoulders: the photo scaled and cropped to the frame, never padded."""
        ph, pw = photo.shape[:2]
        fw = float(points[16, 0] - points[0, 0])
        scale = max(FACE_HEIGHT_SHARE * height / fw, width / pw, height / ph)
        cw, ch = width / scale, height / scale  # the crop, in photo pixels
        cx = float(points[27:36, 0].mean())
        cy = float(points[36:68, 1].mean())
        left = min(max(0.0, cx - cw / 2), pw - cw)
        top = min(max(0.0, cy - 0.45 * ch), ph - ch)
        m = np.array([[scale, 0, -left * scale], [0, scale, -top * scale]], np.float64)
        frame = cv2.warpAffine(photo, m, (width, height), flags=cv2.INTER_CUBIC)
        return np.ascontiguousarray(frame), points * scale - np.array([left, top]) * scale

    # -- fields (start-up) -----------------------------------------------------------------

    def _local(
        self, x0: float, y0: float, x1: float, y1: float
    ) -> tuple[int, int, np.ndarray, np.ndarray]:
        """A sub-box of the head's region: its origin and its pixel coordinates."""
        bx0, by0, bx1, by1 = self.box
        ix0, iy0 = max(bx0, int(x0)), max(by0, int(y0))
        ix1, iy1 = min(bx1, int(math.ceil(x1))), min(by1, int(math.ceil(y1)))
        ys, xs = np.mgrid[iy0:iy1, ix0:ix1].astype(np.float32)
        return iy0 - by0, ix0 - bx0, xs, ys

    def _head_fields(self, hc: np.ndarray) -> list[np.ndarray]:
        """Offsets for head_x, head_y and roll, at low resolution, masked to the head."""
        x0, y0, x1, y1 = self.box
        fw, pts = self.face_width, self.points
        w, h = (x1 - x0 + _LOW - 1) // _LOW, (y1 - y0 + _LOW - 1) // _LOW
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        xs, ys = xs * _LOW + x0, ys * _LOW + y0
        r = np.hypot((xs - hc[0]) / (_HEAD_RX * fw), (ys - hc[1]) / (_HEAD_RY * fw))
        mask = 1.0 - _smooth((r - 1.0) / (_HEAD_FADE - 1.0))
        pivot = (hc[0], pts[8, 1] + 0.2 * fw)
        return [
            (-mask).astype(np.float32),  # head_x: du
            (-mask).astype(np.float32),  # head_y: dv
            ((ys - pivot[1]) * mask).astype(np.float32),  # roll: du
            (-(xs - pivot[0]) * mask).astype(np.float32),  # roll: dv
        ]

    def _jaw_field(self) -> _Field:
        """The lower lip and chin down, sharply at the lips' parting line, the corners held."""
        pts, fw = self.points, self.face_width
        drop = JAW_OPEN * fw
        left, right = pts[48], pts[54]
        mcx, hw = (left[0] + right[0]) / 2, (right[0] - left[0]) / 2
        oy, ox, xs, ys = self._local(
            pts[3, 0], min(left[1], right[1]) - 0.05 * fw, pts[13, 0], pts[8, 1] + 0.4 * fw
        )
        parting = np.array(
            [
                pts[48],
                pts[60],
                (pts[61] + pts[67]) / 2,
                (pts[62] + pts[66]) / 2,
                (pts[63] + pts[65]) / 2,
                pts[64],
                pts[54],
            ]
        )
        row = xs[0]
        mid = _curve(parting, row)[None, :]
        jaw_line = _curve(pts[3:14], row)[None, :]
        inside = np.sqrt(np.clip(1 - ((row - mcx) / hw) ** 2, 0, 1))[None, :]
        across = np.exp(-(((row - mcx) / (0.36 * fw)) ** 4))[None, :]
        depth = _smooth((ys - mid) / np.maximum(1.0, 0.6 * (jaw_line - mid)))
        amount = inside + (across - inside) * depth
        amount = amount * np.clip(ys - mid + 0.5, 0.0, 1.0)  # nothing above the parting
        below_chin = np.clip(ys - jaw_line, 0, None)
        amount = amount * np.exp(-((below_chin / (0.16 * fw)) ** 2))
        dv = (-drop * amount).astype(np.float32)
        return _Field(oy, ox, np.zeros_like(dv), dv)

    def _shut_field(self) -> _Field:
        """The lips meet at their parting line, for a photo whose lips are apart: the upper
        lip comes down and the lower one up, each by half the gap, the skin above and
        below stretching."""
        pts, fw = self.points, self.face_width
        upper_inner, lower_inner = pts[[60, 61, 62, 63, 64]], pts[[60, 67, 66, 65, 64]]
        nose_y, chin_y = pts[33, 1], pts[8, 1]
        oy, ox, xs, ys = self._local(pts[48, 0] - 0.1 * fw, nose_y, pts[54, 0] + 0.1 * fw, chin_y)
        row = xs[0]
        top, bottom = _curve(upper_inner, row), _curve(lower_inner, row)
        inside = (row > pts[60, 0]) & (row < pts[64, 0])
        gap = np.where(inside, np.clip(bottom - top, 0, None) / 2, 0.0).astype(np.float32)
        # Softly across the mouth, so the corners do not tear.
        half = cv2.GaussianBlur(gap[None, :], (0, 0), sigmaX=max(1.0, 0.02 * fw))
        top, bottom = top[None, :], bottom[None, :]
        mid = (top + bottom) / 2
        above = _smooth((ys - nose_y) / np.maximum(1.0, top - nose_y))  # 0 at the nose
        below = _smooth((chin_y - ys) / np.maximum(1.0, chin_y - bottom))  # 0 at the chin
        dv = np.where(ys < mid, -half * above, half * below).astype(np.float32)
        return _Field(oy, ox, np.zeros_like(dv), dv)

    def _spread_field(self) -> _Field:
        pts = self.points
        mc = pts[48:68].mean(axis=0)
        hw = (pts[54, 0] - pts[48, 0]) / 2
        oy, ox, xs, ys = self._local(
            mc[0] - 2.2 * hw, mc[1] - 1.5 * hw, mc[0] + 2.2 * hw, mc[1] + 1.5 * hw
        )
        bump = np.exp(-(((xs - mc[0]) / (1.1 * hw)) ** 2) - (((ys - mc[1]) / (0.7 * hw)) ** 2))
        at_corner = math.exp(-((1 / 1.1) ** 2))
        du = (-SPREAD * (xs - mc[0]) * bump / at_corner).astype(np.float32)
        return _Field(oy, ox, du, np.zeros_like(du))

    def _brow_field(self) -> _Field:
        pts, fw = self.points, self.face_width
        brows = pts[17:27]
        oy, ox, xs, ys = self._local(
            brows[:, 0].min() - 0.15 * fw,
            brows[:, 1].min() - 0.3 * fw,
            brows[:, 0].max() + 0.15 * fw,
            pts[36:48, 1].max(),
        )
        row = xs[0]
        brow_y = _curve(brows, row)[None, :]
        lid_y = _curve(np.concatenate([pts[36:40], pts[42:46]]), row)[None, :]
        along = _smooth((row - brows[:, 0].min() + 0.15 * fw) / (0.15 * fw)) * _smooth(
            (brows[:, 0].max() + 0.15 * fw - row) / (0.15 * fw)
        )
        around = np.exp(-(((ys - brow_y) / (0.14 * fw)) ** 2))
        above_lid = _smooth((lid_y - ys) / np.maximum(1.0, lid_y - brow_y))
        dv = (BROW_RAISE * fw * along[None, :] * around * above_lid).astype(np.float32)
        return _Field(oy, ox, np.zeros_like(dv), dv)

    def _eye_lines(self, eye: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        upper = _curve(eye[[0, 1, 2, 3]], xs)
        lower = _curve(eye[[0, 5, 4, 3]], xs)
        return upper, lower

    def _gaze_field(self, eye: np.ndarray) -> _Field:
        ew = float(eye[3, 0] - eye[0, 0])
        oy, ox, xs, ys = self._local(eye[0, 0], eye[:, 1].min() - 2, eye[3, 0], eye[:, 1].max() + 2)
        upper, lower = self._eye_lines(eye, xs[0])
        across = np.sin(np.clip((xs[0] - eye[0, 0]) / ew, 0, 1) * math.pi) ** 2
        within = np.clip(ys - upper[None, :] + 1, 0, 1) * np.clip(lower[None, :] - ys + 1, 0, 1)
        du = (-GAZE_SHIFT * ew * across[None, :] * within).astype(np.float32)
        return _Field(oy, ox, du, np.zeros_like(du))

    def _blink_field(self, eye: np.ndarray, brow: np.ndarray, closed: float) -> _Field:
        """The upper lid down by `closed` of the opening; the skin between it and a level
        line well above it stretches (a level line: the brow above must not bend)."""
        ew = float(eye[3, 0] - eye[0, 0])
        # Up to here the skin gives: just under the brow, which stays where it is.
        top = min(float(brow[:, 1].max()) + 0.12 * ew, float(eye[:, 1].min()) - 0.3 * ew)
        oy, ox, xs, ys = self._local(
            eye[0, 0] - 0.2 * ew, top - 1, eye[3, 0] + 0.2 * ew, eye[:, 1].max() + 2
        )
        upper, lower = self._eye_lines(eye, xs[0])
        soft = max(1.0, 0.08 * ew)  # the landmarks' lid lines have corners; lids do not
        upper = cv2.GaussianBlur(upper.astype(np.float32)[None, :], (0, 0), sigmaX=soft)
        opening = np.clip(lower - _curve(eye[[0, 1, 2, 3]], xs[0]), 0, None).astype(np.float32)
        down = closed * 1.05 * cv2.GaussianBlur(opening[None, :], (0, 0), sigmaX=soft)
        edge = upper + down  # a closed lid meets the lower one
        stretch = -(ys - top) * down / np.maximum(1e-6, edge - top)
        dv = np.where((ys >= top) & (ys <= edge), stretch, 0.0)
        return _Field(oy, ox, np.zeros_like(dv, dtype=np.float32), dv.astype(np.float32))

    # -- per frame -------------------------------------------------------------------------

    def draw(self, pose: Pose) -> bytes:
        """RGB bytes of the frame for `pose`; the same pose gives back the same object."""
        if self._last is not None and self._last[0] == pose:
            return self._last[1]
        x0, y0, x1, y1 = self.box
        h, w = y1 - y0, x1 - x0
        hx, hy, roll = np.float32(pose.head_x), np.float32(pose.head_y), np.float32(pose.roll)
        low = (
            self._head[0] * hx + self._head[2] * roll,
            self._head[1] * hy + self._head[3] * roll,
        )
        du = cv2.resize(low[0], (w, h), interpolation=cv2.INTER_LINEAR)
        dv = cv2.resize(low[1], (w, h), interpolation=cv2.INTER_LINEAR)
        # Where the head moved the face to: the fine movements go with it.
        mc = self.points[48:68].mean(axis=0)
        ly, lx = int((mc[1] - y0) / _LOW), int((mc[0] - x0) / _LOW)
        ly, lx = min(ly, low[0].shape[0] - 1), min(lx, low[0].shape[1] - 1)
        shift = (-float(low[0][ly, lx]), -float(low[1][ly, lx]))
        sx, sy = round(shift[0]), round(shift[1])
        fields: list[tuple[_Field, float]] = [
            (self._jaw, pose.jaw),
            (self._spread, pose.spread),
            (self._shut, pose.shut),
            (self._brow, pose.brow),
            (self._gaze[0], pose.gaze),
            (self._gaze[1], pose.gaze),
        ]
        if pose.blink > 0.0:
            level = min(range(len(BLINK_LEVELS)), key=lambda i: abs(BLINK_LEVELS[i] - pose.blink))
            if level:
                fields += [(self._blinks[0][level], 1.0), (self._blinks[1][level], 1.0)]
        for field, amount in fields:
            if amount:
                self._add(du, field.du, field, float(amount), sx, sy)
                self._add(dv, field.dv, field, float(amount), sx, sy)
        du += self._grid_x
        dv += self._grid_y
        warped = cv2.remap(self.frame, du, dv, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if pose.jaw > 0.02:
            self._inner_mouth(warped, pose, shift)
        out = self._out
        out[y0:y1, x0:x1] = warped
        image = out.tobytes()
        self._last = pose, image
        return image

    @staticmethod
    def _add(
        into: np.ndarray, part: np.ndarray, field: _Field, amount: float, sx: int, sy: int
    ) -> None:
        if not part.any():
            return
        h, w = part.shape
        y, x = field.y0 + sy, field.x0 + sx
        ty0, tx0 = max(0, y), max(0, x)
        ty1, tx1 = min(into.shape[0], y + h), min(into.shape[1], x + w)
        if ty1 > ty0 and tx1 > tx0:
            into[ty0:ty1, tx0:tx1] += amount * part[ty0 - y : ty1 - y, tx0 - x : tx1 - x]

    def _inner_mouth(self, roi: np.ndarray, pose: Pose, shift: tuple[float, float]) -> None:
        """Between the parted lips: the dark of the mouth, teeth under the upper lip, and
        the tongue low down, drawn where the jaw field opened a gap."""
        pts, fw = self.points, self.face_width
        x0, y0 = self.box[0] - shift[0], self.box[1] - shift[1]
        drop = JAW_OPEN * fw * pose.jaw
        left, right = pts[60].copy(), pts[64].copy()
        mcx = (pts[48, 0] + pts[54, 0]) / 2
        hw0 = (pts[54, 0] - pts[48, 0]) / 2  # as the jaw field opens it
        widen = 1 + SPREAD * pose.spread * 0.9
        xs = np.linspace(left[0], right[0], 17)
        parting = np.array(
            [
                pts[60],
                (pts[61] + pts[67]) / 2,
                (pts[62] + pts[66]) / 2,
                (pts[63] + pts[65]) / 2,
                pts[64],
            ]
        )
        mid = _curve(parting, xs)
        inside = np.sqrt(np.clip(1 - ((xs - mcx) / hw0) ** 2, 0, 1))
        gx = mcx + (xs - mcx) * widen
        top = np.stack([gx - x0, mid - y0 + 0.5], axis=1)
        bottom = np.stack([gx - x0, mid + drop * inside - y0 - 0.5], axis=1)[::-1]
        poly = np.concatenate([top, bottom])
        bx0, by0 = np.floor(poly.min(axis=0)).astype(int) - 2
        bx1, by1 = np.ceil(poly.max(axis=0)).astype(int) + 2
        bx0, by0 = max(0, bx0), max(0, by0)
        bx1, by1 = min(roi.shape[1], bx1), min(roi.shape[0], by1)
        if bx1 - bx0 < 3 or by1 - by0 < 2:
            return
        shape = (by1 - by0, bx1 - bx0)
        mask = np.zeros(shape, np.uint8)
        scale = 4  # sub-pixel polygon edges
        local = ((poly - [bx0, by0]) * scale).astype(np.int32)
        cv2.fillPoly(mask, [local], 255, lineType=cv2.LINE_AA, shift=2)
        mask = cv2.GaussianBlur(mask, (3, 3), 0)  # lips are soft, not cut out
        alpha = mask.astype(np.float32)[..., None] / 255.0
        gap = max(1.0, drop)
        yy = np.arange(shape[0], dtype=np.float32)[:, None] + by0 + y0
        depth = np.clip((yy - mid.mean()) / gap, 0, 1)[..., None]  # 0 under the upper lip
        xx = np.arange(shape[1], dtype=np.float32)[None, :] + bx0 + x0
        sides = np.abs(xx - mcx) / hw0  # the back of the mouth is darkest in the middle
        shade = 0.75 + 0.45 * np.clip(sides, 0, 1)[..., None] ** 2
        tongue = 0.6 * _smooth((depth - 0.5) / 0.5) * np.clip(1 - sides, 0, 1)[..., None]
        color = (_CAVITY * shade) * (1 - tongue) + _TONGUE * tongue
        if not self._photo_shows_teeth:
            teeth = (yy - mid.mean() < min(0.3 * gap, 0.04 * fw))[..., None]
            color = np.where(teeth, _TEETH, color)
        patch = roi[by0:by1, bx0:bx1].astype(np.float32)
        patch += alpha * (color - patch)
        roi[by0:by1, bx0:bx1] = patch.astype(np.uint8)
